package ftp

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// A connection accepted while Shutdown runs must not start a session that
// Shutdown has not seen: Shutdown could return while it runs.
func TestStartSessionAfterShutdownIsRefused(t *testing.T) {
	srv := &Server{}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer b.Close()
	srv.startSession(a, false)
	if n := srv.SessionCount(); n != 0 {
		t.Fatalf("%d sessions registered after Shutdown", n)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read from the refused connection: %v, want EOF (closed)", err)
	}
}
