package ftp

import (
	"bytes"
	"context"
	"errors"
	"io"
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
	if n, err, handled := sendFileBlocking(newTestTransfer(), c.(*net.TCPConn), f, 1<<20, time.Second); handled || n != 0 || err != nil {
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
			tr := newTestTransfer()
			var n int64
			var err error
			var handled bool
			runBlocking(t, tr, c.abort, "receive", func() {
				n, err, handled = receiveFileBlocking(tr, server.(*net.TCPConn), f, c.timeout)
			})
			c.check(t, n, err, handled, f)
			checkDetached(t, tr, server, handled)
		})
	}
}

// sendFileBlocking ends with the file's end, with the data timeout when the
// client stops reading, and with an abort from another goroutine while the
// send is blocked on a full socket buffer.
func TestSendFileBlocking(t *testing.T) {
	const size = 8 << 20
	name := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(name, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		read    bool // the client reads everything; otherwise nothing
		abort   bool
		timeout time.Duration
		check   func(t *testing.T, n int64, err error)
	}{
		{"whole file", true, false, time.Second, func(t *testing.T, n int64, err error) {
			if err != nil || n != size {
				t.Errorf("sent %d, %v; want %d", n, err, size)
			}
		}},
		{"stalled client", false, false, 200 * time.Millisecond, func(t *testing.T, n int64, err error) {
			if !errors.Is(err, os.ErrDeadlineExceeded) || n >= size {
				t.Errorf("sent %d, %v; want part and a deadline error", n, err)
			}
		}},
		{"abort", false, true, time.Minute, func(t *testing.T, n int64, err error) {
			if err == nil || n >= size {
				t.Errorf("sent %d, %v; want part and an error", n, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			server, client := tcpPair(t)
			received := make(chan int64, 1)
			if c.read {
				go func() {
					n, _ := io.Copy(io.Discard, client)
					received <- n
				}()
			}
			tr := newTestTransfer()
			var n int64
			var handled bool
			runBlocking(t, tr, c.abort, "send", func() {
				n, err, handled = sendFileBlocking(tr, server.(*net.TCPConn), f, size, c.timeout)
			})
			if !handled {
				t.Fatal("declined")
			}
			c.check(t, n, err)
			checkDetached(t, tr, server, handled)
			if c.read {
				// The transfer's own descriptor was the last: its close
				// ends the client's read.
				checkReceived(t, received, size)
			}
		})
	}
}

// sendFileBlocking corks the socket while it sends, so that only full
// segments go out, and uncorks it when the file is sent, which pushes the
// last, partial segment at once instead of at the kernel's 200 ms cork
// limit. The test keeps a descriptor of its own for the socket to see
// TCP_CORK during the send (the client reads nothing until then) and after
// it (the transfer's close does not end the connection while it is held).
func TestSendFileBlockingCorks(t *testing.T) {
	const size = 32<<20 + 1001 // more than the socket buffers hold, and a partial last segment
	name := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(name, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	server, client := tcpPair(t)
	own := dupSocket(t, server)
	defer func() {
		if own >= 0 {
			syscall.Close(own)
		}
	}()
	corked := func() int {
		v, err := syscall.GetsockoptInt(own, syscall.IPPROTO_TCP, syscall.TCP_CORK)
		if err != nil {
			t.Fatalf("getsockopt TCP_CORK: %v", err)
		}
		return v
	}
	tr := newTestTransfer()
	type result struct {
		n   int64
		err error
	}
	sent := make(chan result, 1)
	go func() {
		n, err, _ := sendFileBlocking(tr, server.(*net.TCPConn), f, size, 10*time.Second)
		sent <- result{n, err}
	}()
	for deadline := time.Now().Add(5 * time.Second); corked() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the socket was not corked during the send")
		}
	}
	received := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, client)
		received <- n
	}()
	select {
	case r := <-sent:
		if r.err != nil || r.n != size {
			t.Fatalf("sent %d, %v; want %d", r.n, r.err, size)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the send did not end")
	}
	if v := corked(); v != 0 {
		t.Errorf("TCP_CORK is %d after the send, want 0", v)
	}
	syscall.Close(own)
	own = -1
	checkReceived(t, received, size)
}

// checkReceived waits up to 10 s for the client's read to end and checks
// that it got size bytes.
func checkReceived(t *testing.T, received <-chan int64, size int64) {
	t.Helper()
	select {
	case got := <-received:
		if got != size {
			t.Errorf("client read %d bytes, want %d", got, size)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client saw no end of data")
	}
}

// dupSocket gives the test a descriptor of its own for c's socket.
func dupSocket(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = syscall.Dup(int(s)) }); err != nil || dupErr != nil {
		t.Fatalf("dup: %v %v", err, dupErr)
	}
	return fd
}

// runBlocking runs a blocking transfer, aborting tr after 100 ms when abort
// is set, and fails the test if the transfer has not ended within 10 s.
func runBlocking(t *testing.T, tr *transfer, abort bool, what string, transfer func()) {
	t.Helper()
	if abort {
		go func() {
			time.Sleep(100 * time.Millisecond)
			tr.abort()
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		transfer()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal(what + " did not end")
	}
}

func newTestTransfer() *transfer {
	ctx, cancel := context.WithCancel(context.Background())
	return &transfer{ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// checkDetached: a handled transfer closed the net.Conn it detached (the
// socket left Go's poller) and released its own descriptor; a declined
// one left the connection as it was.
func checkDetached(t *testing.T, tr *transfer, c net.Conn, handled bool) {
	t.Helper()
	err := c.SetDeadline(time.Time{})
	switch {
	case handled && (!tr.detached || !errors.Is(err, net.ErrClosed)):
		t.Errorf("handled: detached %v, connection %v; want detached and closed", tr.detached, err)
	case !handled && (tr.detached || err != nil):
		t.Errorf("declined: detached %v, connection %v; want neither", tr.detached, err)
	}
	if tr.wake != nil {
		t.Error("the transfer's descriptor was not released")
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

// sendFileOnce never waits: into a socket whose buffers are small and a
// peer that reads nothing, it sends what fits and returns (the file's
// position moved by as much); with no room left it returns 0 and no
// error; once the peer has read it all, the rest arrives intact.
func TestSendFileOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.(*net.TCPConn).SetReadBuffer(4096)
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server := sc.(*net.TCPConn)
	defer server.Close()
	server.SetWriteBuffer(4096)

	content := make([]byte, 128<<10)
	for i := range content {
		content[i] = byte(i * 13)
	}
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, content, 0o600)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	size := int64(len(content))
	began := time.Now()
	n, err := sendFileOnce(server, f, size)
	if err != nil || n <= 0 || n >= size {
		t.Fatalf("first sendFileOnce = %d, %v: want part of %d", n, err, size)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != n {
		t.Fatalf("file position %d after sending %d", pos, n)
	}
	again, err := sendFileOnce(server, f, size-n)
	if err != nil || again != 0 {
		t.Fatalf("sendFileOnce into a full socket = %d, %v: want 0, nil", again, err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("sendFileOnce waited %v", d)
	}
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(client); got <- b }()
	if _, err := io.Copy(server, f); err != nil {
		t.Fatal(err)
	}
	server.Close()
	if b := <-got; !bytes.Equal(b, content) {
		t.Fatalf("received %d bytes, not the file's %d", len(b), len(content))
	}
}
