package ftp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

func TestBadInput(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	tests := []struct {
		name string
		line string
		want int
	}{
		{"before login", "PWD", 530},
		{"unknown verb", "FOO bar", 500},
		{"empty line", "", 500},
		{"NUL byte", "USER a\x00b", 501},
		{"invalid UTF-8", "USER \xff\xfe", 501},
		{"missing argument", "USER", 501},
		{"telnet IP and Synch stripped", "\xff\xf4\xff\xf2NOOP", 200},
		{"lower case verb", "noop", 200},
		{"HOST before login", "HOST ftp.example.org", 220},
		{"PASS before USER", "PASS x", 503},
		{"over-long line", "NOOP " + strings.Repeat("a", 5000), 500},
		{"session goes on after long line", "NOOP", 200},
	}
	for _, tt := range tests {
		code, msg := r.Cmd("%s", tt.line)
		if code != tt.want {
			t.Errorf("%s: %q got %d %q, want %d", tt.name, truncate(tt.line), code, msg, tt.want)
		}
	}
	r.Login("u", "p")
	loggedIn := []struct {
		line string
		want int
	}{
		{"HOST ftp.example.org", 503},
		{"TYPE X", 504},
		{"TYPE L 8", 200},
		{"STRU R", 504},
		{"MODE B", 504},
		{"REST -5", 501},
		{"REST abc", 501},
		{"PORT 1,2,3", 501},
		{"PORT 127,0,0,1,300,1", 501},
		{"PORT 127,0,0,9,200,10", 500}, // third party: RFC 2577 bounce protection
		{"PORT 127,0,0,1,0,21", 504},   // privileged port
		{"EPRT |3|x|5|", 522},
		{"EPRT |1|127.0.0.9|50000|", 500},
		{"EPRT |1|127.0.0.1|21|", 504},
		{"EPRT garbage", 501},
		{"EPSV 2", 522},
		{"RETR ../../../etc/passwd", 550},
		{"CWD ../../..", 250},
		{"PWD", 257},
		{"RNTO x", 503},
		{"ABOR", 225},
		{"SITE CHMOD 999 x", 501},
		{"SITE FROB", 504},
		{"OPTS HASH CRC99", 504},
		{"OPTS FOO", 501},
		{"MFMT 2020 x", 501},
		{"ALLO 100", 202},
		{"ACCT x", 202},
		{"RETR nothing-here", 550},
		{"RETR /", 550},
		{"STAT", 211},
		{"SIZE " + strings.Repeat("n", 300), 553}, // ENAMETOOLONG
		{"MKD " + strings.Repeat("n", 300), 553},
	}
	for _, tt := range loggedIn {
		code, msg := r.Cmd("%s", tt.line)
		if code != tt.want {
			t.Errorf("%q: got %d %q, want %d", tt.line, code, msg, tt.want)
		}
		if tt.line == "PWD" && msg != `"/" is the current directory` {
			t.Errorf("PWD after CWD ../../.. = %q: left the root", msg)
		}
	}
	if _, err := os.Stat(filepath.Join(ts.root, "..", "passwd")); err == nil {
		t.Fatal("unexpected file outside root")
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestTooManyErrorsHangsUp(t *testing.T) {
	ts := startServer(t, 2, nil)
	r := ts.raw(t)
	for i := 0; i < 100; i++ {
		code, _ := r.Cmd("BOGUS")
		if code == 421 {
			return
		}
	}
	t.Fatal("100 bad commands did not end the session")
}

func TestRepliesFormat(t *testing.T) {
	ts := startServer(t, 2, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	r.Net().SetDeadline(time.Now().Add(5 * time.Second))
	// Read FEAT's raw bytes to check the multi-line format itself.
	fmt.Fprintf(r.Net(), "FEAT\r\n")
	var raw []string
	for {
		line, err := r.Conn.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, line)
		if strings.HasPrefix(line, "211 ") {
			break
		}
	}
	if raw[0] != "211-Features:" {
		t.Errorf("first FEAT line %q", raw[0])
	}
	for _, want := range []string{" EPSV", " EPRT", " MDTM", " SIZE", " REST STREAM", " TVFS", " UTF8", " MFMT", " HOST",
		" MLST type*;size*;modify*;perm*;unix.mode*;", " HASH SHA-256*;SHA-1;MD5"} {
		found := false
		for _, l := range raw {
			found = found || l == want
		}
		if !found {
			t.Errorf("FEAT lacks %q: %q", want, raw)
		}
	}
	r.Must(257, `MKD a"b`)
	msg := r.Must(250, `CWD a"b`)
	_ = msg
	if got := r.Must(257, "PWD"); got != `"/a""b" is the current directory` {
		t.Errorf("PWD = %q", got)
	}
	r.Must(250, "CWD /")
	writeFile(t, filepath.Join(ts.root, "h.txt"), []byte("hash me"))
	if got := r.Must(213, "HASH h.txt"); got != "SHA-256 0-7 eb201af5aaf0d60629d3d2a61e466cfc0fedb517add831ecac5235e1daa963d6 /h.txt" {
		t.Errorf("HASH = %q", got)
	}
	r.Must(200, "OPTS HASH MD5")
	if got := r.Must(213, "HASH h.txt"); !strings.HasPrefix(got, "MD5 0-7 ") {
		t.Errorf("HASH after OPTS HASH MD5 = %q", got)
	}
	if got := r.Must(250, "MLST h.txt"); !strings.Contains(got, "\n type=file;size=7;modify=") || !strings.HasSuffix(got, " /h.txt\nEnd") {
		t.Errorf("MLST = %q", got)
	}
	r.Must(200, "OPTS MLST size;type;")
	if got := r.Must(250, "MLST h.txt"); !strings.Contains(got, "\n type=file;size=7; /h.txt") {
		t.Errorf("MLST after OPTS MLST = %q", got)
	}
	if got := r.Must(214, "HELP RETR"); got != "Syntax: RETR <path>" {
		t.Errorf("HELP RETR = %q", got)
	}
	r.Must(215, "SYST")
	if got := r.Must(213, "STAT /"); !strings.Contains(got, "h.txt") {
		t.Errorf("STAT / = %q", got)
	}
}

func TestTypeASCII(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	r.Must(200, "TYPE A")
	// Upload: CRLF on the wire becomes LF on disk; a lone CR is kept.
	d := r.EPSV()
	r.Must(150, "STOR a.txt")
	d.Write([]byte("one\r\ntwo\r\nthree\rx\r\n"))
	d.Close()
	r.Expect(226)
	if got, _ := os.ReadFile(filepath.Join(ts.root, "a.txt")); string(got) != "one\ntwo\nthree\rx\n" {
		t.Fatalf("stored %q", got)
	}
	// Download: LF on disk becomes CRLF on the wire; existing CRLF stays.
	writeFile(t, filepath.Join(ts.root, "b.txt"), []byte("a\nb\r\nc"))
	d = r.EPSV()
	r.Must(150, "RETR b.txt")
	got, _ := io.ReadAll(d)
	r.Expect(226)
	if string(got) != "a\r\nb\r\nc" {
		t.Fatalf("retrieved %q", got)
	}
	if sz := r.Must(213, "SIZE b.txt"); sz != "7" {
		t.Fatalf("ASCII SIZE = %s, want 7", sz)
	}
}

// startBigTransfer starts a RETR of a file too large to fit in socket
// buffers, so the transfer is still running when the test acts.
func startBigTransfer(t *testing.T, ts *testServer, r *rawConn) net.Conn {
	t.Helper()
	writeFile(t, filepath.Join(ts.root, "big.bin"), randomBytes(64<<20))
	d := r.EPSV()
	r.Must(150, "RETR big.bin")
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(d, buf); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAbortAndStatDuringTransfer(t *testing.T) {
	ts := startServer(t, 4, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	startBigTransfer(t, ts, r)
	if got := r.Must(213, "STAT"); !strings.Contains(got, "RETR /big.bin in progress") {
		t.Errorf("STAT during transfer = %q", got)
	}
	// RFC 959: ABOR during a transfer gets 426 for the transfer, then 226.
	r.Must(426, "ABOR")
	r.Expect(226)
	r.Must(200, "NOOP")
	if !strings.Contains(ts.logs.String(), "result=aborted") {
		t.Error("aborted transfer not logged")
	}
	// The next transfer works.
	d := r.EPSV()
	r.Must(150, "LIST")
	io.ReadAll(d)
	r.Expect(226)
}

func TestAtomicUpload(t *testing.T) {
	ts := startServer(t, 4, nil)
	old := []byte("the old content")
	target := filepath.Join(ts.root, "f.txt")
	writeFile(t, target, old)

	// Aborted upload: the old file stays, no temporary file is left.
	r := ts.raw(t)
	r.Login("u", "p")
	d := r.EPSV()
	r.Must(150, "STOR f.txt")
	d.Write(bytes.Repeat([]byte("new"), 1000))
	r.Must(426, "ABOR")
	r.Expect(226)
	if got, _ := os.ReadFile(target); !bytes.Equal(got, old) {
		t.Fatalf("after aborted upload the file holds %q", truncate(string(got)))
	}

	// Control connection dropped mid-upload: same.
	r2 := ts.raw(t)
	r2.Login("u", "p")
	d2 := r2.EPSV()
	r2.Must(150, "STOR f.txt")
	d2.Write(bytes.Repeat([]byte("new"), 1000))
	r2.Net().Close()
	waitFor(t, "session end", func() bool { return ts.srv.SessionCount() == 1 })
	if got, _ := os.ReadFile(target); !bytes.Equal(got, old) {
		t.Fatalf("after dropped upload the file holds %q", truncate(string(got)))
	}
	entries, _ := os.ReadDir(ts.root)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files left in root: %v", names)
	}

	// A complete upload replaces the file.
	d = r.EPSV()
	r.Must(150, "STOR f.txt")
	d.Write([]byte("new"))
	d.Close()
	r.Expect(226)
	if got, _ := os.ReadFile(target); string(got) != "new" {
		t.Fatalf("after upload the file holds %q", got)
	}
	// STOU picks a fresh name and says it in the 150 reply.
	d = r.EPSV()
	if msg := r.Must(150, "STOU f.txt"); msg != "FILE: f.txt.1" {
		t.Errorf("STOU 150 = %q", msg)
	}
	d.Close()
	r.Expect(226)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPassiveExhaustedAndReleased(t *testing.T) {
	ts := startServer(t, 2, nil)
	a, b, c := ts.raw(t), ts.raw(t), ts.raw(t)
	for _, r := range []*rawConn{a, b, c} {
		r.Login("u", "p")
	}
	a.Must(229, "EPSV")
	b.Must(229, "EPSV")
	start := time.Now()
	if code, msg := c.Cmd("EPSV"); code != 425 || !strings.Contains(msg, "busy") {
		t.Fatalf("EPSV with all ports pending: %d %q, want 425", code, msg)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("exhausted EPSV took %v", time.Since(start))
	}
	// PASV again releases the previous port, so a repeats fine.
	a.Must(229, "EPSV")
	// Quitting releases b's port for c.
	b.Must(221, "QUIT")
	waitFor(t, "port release", func() bool { return ts.srv.Passive.Stats().Pending == 1 })
	c.Must(229, "EPSV")
}

func TestPassiveRefusesOtherClientIP(t *testing.T) {
	ts := startServer(t, 2, nil)
	writeFile(t, filepath.Join(ts.root, "x.txt"), []byte("secret"))
	r := ts.raw(t)
	r.Login("u", "p")
	msg := r.Must(229, "EPSV")
	var port int
	fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
	// A connection from 127.0.0.2 (not the control connection's client),
	// first in the port's queue, is closed without data.
	thief, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}).
		Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	// The legitimate client still gets its transfer.
	d, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r.Must(150, "RETR x.txt")
	got, _ := io.ReadAll(d)
	r.Expect(226)
	if string(got) != "secret" {
		t.Fatalf("got %q", got)
	}
	thief.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.ReadAll(thief); len(n) != 0 || os.IsTimeout(err) {
		t.Fatalf("thief received %q, %v; want its connection closed without data", n, err)
	}
}

func TestPassiveSharedAcrossClientIPs(t *testing.T) {
	ts := startServer(t, 3, nil)
	writeFile(t, filepath.Join(ts.root, "x.txt"), []byte("shared"))
	const clients = 30
	var conns []*rawConn
	var datas []net.Conn
	for i := 0; i < clients; i++ {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i))}
		r := dialRaw(t, ts.addr, local)
		r.Login("u", "p")
		msg := r.Must(229, "EPSV")
		var port int
		fmt.Sscanf(msg[strings.Index(msg, "(|||"):], "(|||%d|)", &port)
		d, err := (&net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}).Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		d.SetDeadline(time.Now().Add(20 * time.Second))
		defer d.Close()
		conns, datas = append(conns, r), append(datas, d)
	}
	for i, r := range conns {
		r.Must(150, "RETR x.txt")
		got, _ := io.ReadAll(datas[i])
		r.Expect(226)
		if string(got) != "shared" {
			t.Fatalf("client %d got %q", i, got)
		}
	}
}

func TestDataConnectionTimeout(t *testing.T) {
	ts := startServer(t, 2, func(s *ftp.Server) { s.Passive.AcceptTimeout = 200 * time.Millisecond })
	writeFile(t, filepath.Join(ts.root, "x.txt"), []byte("x"))
	r := ts.raw(t)
	r.Login("u", "p")
	// RETR sent in time, but no connection arrives: 425 once the wait ends.
	r.Must(229, "EPSV")
	start := time.Now()
	if code, msg := r.Cmd("RETR x.txt"); code != 425 {
		t.Fatalf("RETR without data connection: %d %q, want 425", code, msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("425 took %v", d)
	}
	// RETR sent after the reservation expired: 425 at once.
	r.Must(229, "EPSV")
	waitFor(t, "release", func() bool { return ts.srv.Passive.Stats().Pending == 0 })
	r.Must(425, "RETR x.txt")
	r.Must(200, "NOOP")
}

func TestActiveMode(t *testing.T) {
	ts := startServer(t, 2, nil)
	writeFile(t, filepath.Join(ts.root, "x.txt"), []byte("active data"))
	r := ts.raw(t)
	r.Login("u", "p")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	r.Must(200, "PORT 127,0,0,1,%d,%d", p>>8, p&0xff)
	r.Must(150, "RETR x.txt")
	d, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(d)
	d.Close()
	r.Expect(226)
	if string(got) != "active data" {
		t.Fatalf("got %q", got)
	}
	r.Must(200, "EPRT |1|127.0.0.1|%d|", p)
	r.Must(150, "STOR y.txt")
	d, _ = l.Accept()
	d.Write([]byte("up"))
	d.Close()
	r.Expect(226)
	// Nobody listening: 425, quickly.
	l.Close()
	r.Must(200, "PORT 127,0,0,1,%d,%d", p>>8, p&0xff)
	if code, _ := r.Cmd("RETR x.txt"); code != 425 {
		t.Fatalf("RETR to a closed port: %d, want 425", code)
	}
	// EPSV ALL forbids PORT afterwards.
	r.Must(200, "EPSV ALL")
	r.Must(503, "PORT 127,0,0,1,%d,%d", p>>8, p&0xff)
	r.Must(503, "PASV")
}

func TestTimeoutsAndLimits(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		ts := startServer(t, 2, func(s *ftp.Server) { s.IdleTimeout = 200 * time.Millisecond })
		r := ts.raw(t)
		r.Login("u", "p")
		if code, _ := r.Read(); code != 421 {
			t.Fatalf("idle session got %d, want 421", code)
		}
	})
	t.Run("login", func(t *testing.T) {
		ts := startServer(t, 2, func(s *ftp.Server) { s.LoginTimeout = 200 * time.Millisecond })
		r := ts.raw(t)
		if code, msg := r.Read(); code != 421 || !strings.Contains(msg, "Login timeout") {
			t.Fatalf("got %d %q, want 421 login timeout", code, msg)
		}
	})
	t.Run("max-conns", func(t *testing.T) {
		ts := startServer(t, 2, func(s *ftp.Server) { s.MaxConns = 2 })
		ts.raw(t)
		ts.raw(t)
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(line), "421 ") {
			t.Fatalf("third connection got %q, want 421", line)
		}
	})
	t.Run("max-conns-per-ip", func(t *testing.T) {
		ts := startServer(t, 2, func(s *ftp.Server) { s.MaxConnsPerIP = 1 })
		ts.raw(t)
		dialRaw(t, ts.addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}) // another IP is fine
		c, _ := net.Dial("tcp", ts.addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(line), "421 ") {
			t.Fatalf("second connection from 127.0.0.1 got %q, want 421", line)
		}
	})
	t.Run("login failures", func(t *testing.T) {
		ts := startServer(t, 2, nil)
		r := ts.raw(t)
		r.Must(331, "USER u")
		r.Must(530, "PASS x")
		r.Must(331, "USER u")
		r.Must(530, "PASS y")
		r.Must(331, "USER u")
		r.Must(421, "PASS z")
	})
}

func TestPanicEndsOnlyThatSession(t *testing.T) {
	ts := startServer(t, 2, nil)
	ts.backend.panic.Store(true)
	r := ts.raw(t)
	r.Must(331, "USER u")
	r.Must(421, "PASS p")
	ts.backend.panic.Store(false)
	r2 := ts.raw(t)
	r2.Login("u", "p")
	if !strings.Contains(ts.logs.String(), "panic serving session") {
		t.Fatal("panic not logged")
	}
}

func TestShutdownLetsTransfersFinish(t *testing.T) {
	ts := startServer(t, 4, nil)
	idle := ts.raw(t)
	busy := ts.raw(t)
	busy.Login("u", "p")
	data := startBigTransfer(t, ts, busy)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- ts.srv.Shutdown(ctx)
	}()
	if code, _ := idle.Read(); code != 421 {
		t.Fatalf("idle session got %d, want 421", code)
	}
	// The transfer still completes.
	n, err := io.Copy(io.Discard, data)
	if err != nil || n != 64<<20-4096 {
		t.Fatalf("transfer during shutdown: %d bytes, %v", n, err)
	}
	busy.Expect(226)
	busy.Expect(421)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
}

func TestREIN(t *testing.T) {
	ts := startServer(t, 2, nil)
	r := ts.raw(t)
	r.Login("u", "p")
	r.Must(220, "REIN")
	r.Must(530, "PWD")
	r.Login("u", "p")
	r.Must(257, "PWD")
}
