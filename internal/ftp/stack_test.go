//go:build !race

// The race detector enlarges frames and stack guards, so this test runs
// without it (scripts/test.sh runs it on its own, without -race).

package ftp_test

import (
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
	"github.com/rotary-ftp/rotary/internal/logqueue"
)

// TestIdleSessionStacks: a logged-in idle session holds a 4 KiB stack, with
// logging at info level through the server's log queue (as `rotary serve`
// logs). A deeper frame on the login path or a handler logging on the
// session's stack would grow it to 8 KiB for as long as the session idles
// (issue 6: 10,000 idle sessions at <= 8 KiB each, all included).
func TestIdleSessionStacks(t *testing.T) {
	const sessions = 500
	h, q := logqueue.New(io.Discard, func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
	})
	// Parking would end the goroutines measured here (park_linux_test.go).
	ts := startServer(t, 2, func(s *ftp.Server) { s.Logger = slog.New(h); s.ParkIdleAfter = -1 })
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	openSessions(t, ts.addr, sessions, "USER u\r\nPASS p\r\nPWD\r\n", "257 ")
	q.Sync()
	runtime.ReadMemStats(&after)
	perSession := float64(after.StackInuse-before.StackInuse) / sessions
	t.Logf("stack per idle session: %.0f bytes", perSession)
	// 4 KiB each, with room for the few that a GC assist during login
	// pushes over; a regression shows as 8 KiB each.
	if perSession > 6*1024 {
		t.Errorf("idle sessions hold %.0f bytes of stack each, want 4 KiB", perSession)
	}
}
