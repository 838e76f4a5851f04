package ftp_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// waitParked waits until n sessions are parked (ParkedSessions counts all
// servers of the test binary: the tests here do not run in parallel).
func waitParked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ftp.ParkedSessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions parked, want %d", ftp.ParkedSessions(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleSessionsPark: logged-in sessions that go quiet give up their
// goroutines, and every one answers its next command, again and again.
func TestIdleSessionsPark(t *testing.T) {
	waitParked(t, 0)
	const sessions = 300
	ts := startServer(t, 2, func(s *ftp.Server) { s.ParkIdleAfter = 20 * time.Millisecond })
	base := runtime.NumGoroutine()
	conns := openSessions(t, ts.addr, sessions, "USER u\r\nPASS p\r\nPWD\r\n", "257 ")
	for round := range 3 {
		waitParked(t, sessions)
		if g := runtime.NumGoroutine(); g > base+sessions/10 {
			t.Fatalf("round %d: %d goroutines with %d sessions parked (%d before)", round, g, sessions, base)
		}
		if n := ts.srv.SessionCount(); n != sessions {
			t.Fatalf("round %d: %d sessions, want %d", round, n, sessions)
		}
		for _, c := range conns {
			if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 64)
		for i, c := range conns {
			n, err := c.Read(buf)
			if err != nil || !strings.HasPrefix(string(buf[:n]), "200 ") {
				t.Fatalf("round %d, session %d: NOOP got %q, %v", round, i, buf[:n], err)
			}
		}
	}
}

// TestParkedSessionEnds: a parked session still ends in each of the ways
// a waiting one does, with the same replies.
func TestParkedSessionEnds(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*ftp.Server)
		login     bool
		end       func(t *testing.T, ts *testServer, c net.Conn)
		want      string // the last reply, "" for none
	}{
		{"idle timeout", func(s *ftp.Server) { s.IdleTimeout = 300 * time.Millisecond }, true, nil, "421 Timeout"},
		{"login timeout", func(s *ftp.Server) { s.LoginTimeout = 300 * time.Millisecond }, false, nil, "421 Login timeout"},
		{"client hangs up", nil, true, func(t *testing.T, ts *testServer, c net.Conn) { c.Close() }, ""},
		{"shutdown", nil, true, func(t *testing.T, ts *testServer, c net.Conn) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ts.srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}, "421 Server shutting down"},
		{"close", nil, true, func(t *testing.T, ts *testServer, c net.Conn) { ts.srv.Close() }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waitParked(t, 0)
			ts := startServer(t, 2, func(s *ftp.Server) {
				s.ParkIdleAfter = 20 * time.Millisecond
				if tt.configure != nil {
					tt.configure(s)
				}
			})
			commands, until := "NOOP\r\n", "200 "
			if tt.login {
				commands, until = "USER u\r\nPASS p\r\n", "230 "
			}
			c := openSessions(t, ts.addr, 1, commands, until)[0]
			waitParked(t, 1)
			start := time.Now()
			if tt.end != nil {
				tt.end(t, ts, c)
			}
			for ts.srv.SessionCount() > 0 {
				if time.Since(start) > 5*time.Second {
					t.Fatalf("the session did not end")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if tt.end == nil && time.Since(start) > 2*time.Second {
				t.Errorf("timed out after %v, want about 300ms", time.Since(start))
			}
			if tt.want == "" {
				return
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ := io.ReadAll(c)
			if !strings.HasPrefix(string(got), tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHalfLineDoesNotPark: a session holding half a command line keeps
// its goroutine (the line lives in it), and the line's end is heard.
func TestHalfLineDoesNotPark(t *testing.T) {
	waitParked(t, 0)
	ts := startServer(t, 2, func(s *ftp.Server) { s.ParkIdleAfter = 20 * time.Millisecond })
	r := ts.raw(t)
	r.Login("u", "p")
	waitParked(t, 1)
	io.WriteString(r.Net(), "NO")
	time.Sleep(100 * time.Millisecond)
	if n := ftp.ParkedSessions(); n != 0 {
		t.Fatalf("%d sessions parked with half a line read", n)
	}
	io.WriteString(r.Net(), "OP\r\n")
	r.Expect(200)
	waitParked(t, 1)
}

// BenchmarkNOOPParked: what parking costs a command, against a session
// that never parks: with ParkIdleAfter at 1µs a session parks between
// nearly every NOOP and its next.
func BenchmarkNOOPParked(b *testing.B) {
	for _, bc := range []struct {
		name  string
		after time.Duration
	}{{"never", -1}, {"every-command", time.Microsecond}} {
		b.Run(bc.name, func(b *testing.B) {
			ts := startServer(b, 2, func(s *ftp.Server) { s.ParkIdleAfter = bc.after })
			r := ts.raw(b)
			r.Login("u", "p")
			b.ResetTimer()
			for range b.N {
				r.Must(200, "NOOP")
			}
		})
	}
}
