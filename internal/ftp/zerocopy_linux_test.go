package ftp

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Past maxBlockingSends, RETR takes the non-blocking path: the blocking one
// declines without sending anything.
func TestBlockingSendsAreBounded(t *testing.T) {
	blockingSends.Add(maxBlockingSends)
	defer blockingSends.Add(-maxBlockingSends)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err, handled := sendFileBlocking(c.(*net.TCPConn), f, 1<<20, time.Second); handled || n != 0 || err != nil {
		t.Fatalf("at the bound: sent %d, %v, handled %v; want 0, nil, false", n, err, handled)
	}
}

// receiveFileBlocking ends with the client's close, with a full disk's
// ENOSPC, with the data timeout and with a shutdown from another goroutine
// (an abort); an append-mode file is declined untouched.
func TestReceiveFileBlocking(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		file    func(t *testing.T) *os.File
		client  func(c net.Conn)
		abort   bool
		timeout time.Duration
		check   func(t *testing.T, n int64, err error, handled bool, f *os.File)
	}{
		{"upload", func(t *testing.T) *os.File { return createFile(t, dir, "up.bin", 0) },
			func(c net.Conn) { c.Write(make([]byte, 3<<20)); c.Close() }, false, time.Second,
			func(t *testing.T, n int64, err error, handled bool, f *os.File) {
				fi, _ := f.Stat()
				if !handled || err != nil || n != 3<<20 || fi.Size() != 3<<20 {
					t.Errorf("got %d bytes (file %d), %v, handled %v", n, fi.Size(), err, handled)
				}
			}},
		{"full disk", func(t *testing.T) *os.File {
			// A 256 KiB tmpfs (root only; skipped elsewhere).
			small := t.TempDir()
			if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=256k"); err != nil {
				t.Skipf("mount tmpfs: %v", err)
			}
			t.Cleanup(func() { syscall.Unmount(small, 0) })
			return createFile(t, small, "full.bin", 0)
		}, func(c net.Conn) { c.Write(make([]byte, 1<<20)); c.Close() }, false, time.Second,
			func(t *testing.T, n int64, err error, handled bool, f *os.File) {
				if !handled || !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("got %v, handled %v; want ENOSPC", err, handled)
				}
			}},
		{"stalled client", func(t *testing.T) *os.File { return createFile(t, dir, "stall.bin", 0) },
			func(c net.Conn) { c.Write([]byte("a little")) }, false, 200 * time.Millisecond,
			func(t *testing.T, n int64, err error, handled bool, f *os.File) {
				if !handled || !errors.Is(err, os.ErrDeadlineExceeded) || n != 8 {
					t.Errorf("got %d bytes, %v, handled %v; want 8 and a deadline error", n, err, handled)
				}
			}},
		{"abort", func(t *testing.T) *os.File { return createFile(t, dir, "abort.bin", 0) },
			func(c net.Conn) { c.Write([]byte("a little")) }, true, time.Minute,
			func(t *testing.T, n int64, err error, handled bool, f *os.File) {
				if !handled || n != 8 {
					t.Errorf("got %d bytes, %v, handled %v; want the 8 bytes before the abort", n, err, handled)
				}
			}},
		{"append mode", func(t *testing.T) *os.File { return createFile(t, dir, "app.bin", os.O_APPEND) },
			func(c net.Conn) { c.Write([]byte("data")); c.Close() }, false, time.Second,
			func(t *testing.T, n int64, err error, handled bool, f *os.File) {
				if handled || n != 0 || err != nil {
					t.Errorf("append mode: %d bytes, %v, handled %v; want declined", n, err, handled)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.file(t)
			defer f.Close()
			server, client := tcpPair(t)
			go c.client(client)
			if c.abort {
				go func() {
					time.Sleep(100 * time.Millisecond)
					server.(*net.TCPConn).CloseRead() // as transfer.abort does
				}()
			}
			done := make(chan struct{})
			var n int64
			var err error
			var handled bool
			go func() {
				defer close(done)
				n, err, handled = receiveFileBlocking(server.(*net.TCPConn), f, c.timeout)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("receive did not end")
			}
			c.check(t, n, err, handled, f)
		})
	}
}

func createFile(t *testing.T, dir, name string, flag int) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
