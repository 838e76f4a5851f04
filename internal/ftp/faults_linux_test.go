package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/ftptest"
)

// Faults a server meets on the internet (issue 15): each test checks that
// the server keeps serving others meanwhile, and that its descriptors and
// goroutines come back to where they were once the fault is over.

func runtimeGoroutines() int { return runtime.NumGoroutine() }

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// baseline is the process's descriptors and goroutines with the server up
// after one session has come and gone: what every fault test comes back to.
// (Test pools do not linger, so no passive listener outlives its transfer.)
type baseline struct{ fds, goroutines int }

func takeBaseline(t *testing.T, ts *testServer) baseline {
	t.Helper()
	healthy(t, ts)
	waitFor(t, "sessions to end", func() bool { return ts.srv.SessionCount() == 0 })
	return baseline{fds: openFDs(t), goroutines: runtimeGoroutines()}
}

// backToBaseline waits for the fault's descriptors and goroutines to go.
func backToBaseline(t *testing.T, ts *testServer, b baseline) {
	t.Helper()
	waitFor(t, "sessions to end", func() bool { return ts.srv.SessionCount() == 0 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		fds, g := openFDs(t), runtimeGoroutines()
		if fds <= b.fds && g <= b.goroutines {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the fault: %d descriptors (baseline %d), %d goroutines (baseline %d)", fds, b.fds, g, b.goroutines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthy runs one ordinary session: login, upload, download, quit.
func healthy(t *testing.T, ts *testServer) {
	t.Helper()
	c := ts.client(t)
	data := randomBytes(64 << 10)
	if err := c.Stor("healthy.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("an ordinary session's upload: %v", err)
	}
	r, err := c.Retr("healthy.bin")
	if err != nil {
		t.Fatalf("an ordinary session's download: %v", err)
	}
	if got := readAll(t, r); !bytes.Equal(got, data) {
		t.Fatal("an ordinary session's download differs")
	}
	r.Close()
	c.Quit()
}

// A client that resets its data connection mid-upload and mid-download:
// 426 on the control connection, no file under the upload's name, no
// temporary file, and the session goes on.
func TestFaultResetMidTransfer(t *testing.T) {
	ts := startServer(t, 4, nil)
	b := takeBaseline(t, ts)
	writeFile(t, filepath.Join(ts.root, "big.bin"), randomBytes(32<<20))
	for round := 0; round < 5; round++ {
		r := ts.raw(t)
		r.Login("u", "p")
		d := r.EPSV()
		r.Must(150, "STOR partial.bin")
		d.Write(randomBytes(1 << 20))
		d.(*net.TCPConn).SetLinger(0)
		d.Close() // RST
		if code, msg := r.Read(); code != 426 {
			t.Fatalf("upload reset by the client: %d %q, want 426", code, msg)
		}
		if _, err := os.Stat(filepath.Join(ts.root, "partial.bin")); !os.IsNotExist(err) {
			t.Fatalf("a reset upload left partial.bin: %v", err)
		}
		d = r.EPSV()
		r.Must(150, "RETR big.bin")
		io.ReadFull(d, make([]byte, 64<<10))
		d.(*net.TCPConn).SetLinger(0)
		d.Close()
		if code, msg := r.Read(); code != 426 {
			t.Fatalf("download reset by the client: %d %q, want 426", code, msg)
		}
		r.Must(200, "NOOP")
		r.Net().Close()
	}
	entries, _ := os.ReadDir(ts.root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".rotary-upload-") {
			t.Fatalf("temporary file %s left", e.Name())
		}
	}
	healthy(t, ts)
	backToBaseline(t, ts, b)
}

// PASV floods: one client asking for ports over and over holds one at a
// time; fifty clients at once share a small range by client IP; nobody
// else is locked out, and every port is free again afterwards.
func TestFaultPASVFlood(t *testing.T) {
	ts := startServer(t, 8, nil)
	b := takeBaseline(t, ts)
	r := ts.raw(t)
	r.Login("u", "p")
	for i := 0; i < 500; i++ {
		r.Must(229, "EPSV")
	}
	healthy(t, ts)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	flooders := make([]*ftptest.Conn, 50)
	for i := range flooders {
		flooders[i] = ftptest.DialFrom(t, ts.addr, &net.TCPAddr{IP: net.IPv4(127, 0, 3, byte(1+i))})
	}
	for i, c := range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The ftpclient calls return errors: t.Fatal is for the test's
			// own goroutine.
			if err := c.Conn.Login("u", "p"); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			for j := 0; j < 20; j++ {
				if code, msg, err := c.Conn.Cmd("PASV"); code != 227 {
					errs <- fmt.Errorf("client %d PASV %d: %d %s %v", i, j, code, msg, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	healthy(t, ts) // while fifty clients hold a pending port each on 8 ports
	r.Net().Close()
	for _, c := range flooders {
		c.Net().Close()
	}
	backToBaseline(t, ts, b)
	waitFor(t, "every passive port to be free", func() bool { st := ts.srv.Passive.Stats(); return st.Pending == 0 })
}

// 1,000 slowloris connections (a few bytes, then silence) do not keep
// others out, and end at the login timeout.
func TestFaultSlowloris(t *testing.T) {
	ts := startServer(t, 4, func(s *ftp.Server) { s.LoginTimeout = 2 * time.Second })
	b := takeBaseline(t, ts)
	var conns []net.Conn
	for i := 0; i < 1000; i++ {
		c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.Write([]byte("US")) // a command that never ends
		conns = append(conns, c)
	}
	healthy(t, ts)
	// The login timeout closes them all: each reads a 421, then EOF.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, _ := io.ReadAll(c)
		if !strings.Contains(string(got), "421 Login timeout") {
			t.Fatalf("slow connection %d got %q, want the login timeout's 421", i, got)
		}
		c.Close()
	}
	backToBaseline(t, ts, b)
}

// A flood past max-conns: connection N+1 and later get 421 at once, the
// admitted session goes on, and after the flood new sessions are admitted.
func TestFaultConnectionFlood(t *testing.T) {
	ts := startServer(t, 4, func(s *ftp.Server) { s.MaxConns = 20 })
	b := takeBaseline(t, ts)
	keep := ts.raw(t)
	keep.Login("u", "p")
	var held []*ftptest.Conn
	for i := 0; i < 19; i++ {
		held = append(held, ts.raw(t))
	}
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(got), "421 Too many users") {
			t.Fatalf("connection %d past max-conns got %q", i, got)
		}
	}
	keep.Must(257, "PWD")
	for _, c := range held {
		c.Net().Close()
	}
	keep.Net().Close()
	waitFor(t, "the held sessions to end", func() bool { return ts.srv.SessionCount() == 0 })
	healthy(t, ts)
	backToBaseline(t, ts, b)
}
