package ftp

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"
)

type fakeInfo struct{ name string }

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

// A listing to a client that never reads ends at the data timeout (it used
// to block forever). net.Pipe has no buffer, so the first write stalls.
func TestListingHonoursDataTimeout(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	s := &session{srv: &Server{DataTimeout: 100 * time.Millisecond}}
	entries := []listEntry{{name: "a", info: fakeInfo{"a"}}}
	start := time.Now()
	_, err := writeListing(s.deadlineConn(server), entries, appendNameLine)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writeListing to a stalled client: %v, want a deadline error", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v", el)
	}
	// With the timeout off, deadlineConn is the connection itself.
	s.srv.Update(func(srv *Server) { srv.DataTimeout = -1 })
	if got := s.deadlineConn(server); got != server {
		t.Fatal("DataTimeout -1 still wraps the connection")
	}
}
