package ftp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// queuedPair returns a queuedConn on a connection accepted with a bare
// accept4, as passive.Reservation.TakeQueued takes it, and the client's
// end, whose receive buffer is rcvbuf bytes when that is not 0.
func queuedPair(t *testing.T, rcvbuf int) (*queuedConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Timeout: 3 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf > 0 {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
		}
		return nil
	}}
	nc, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client := nc.(*net.TCPConn)
	t.Cleanup(func() { client.Close() })
	rc, _ := ln.SyscallConn()
	fd := -1
	var aerr error
	for deadline := time.Now().Add(3 * time.Second); fd < 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		rc.Control(func(lfd uintptr) { fd, _, aerr = syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC) })
	}
	if fd < 0 {
		t.Fatalf("accept4: %v", aerr)
	}
	c := &queuedConn{fd: fd, local: ln.Addr().(*net.TCPAddr), remote: client.LocalAddr().(*net.TCPAddr)}
	t.Cleanup(func() { c.Close() })
	return c, client
}

func tempFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// A file that does not fit the socket in one sendfile (the client reads
// nothing yet, with a small receive buffer): sendFileOnce sends part, and
// the rest goes on the *net.TCPConn the connection turns into; the client
// gets every byte once, and Close closes it.
func TestQueuedConnHandsOver(t *testing.T) {
	c, client := queuedPair(t, 4096)
	data := make([]byte, 4<<20)
	rand.Read(data)
	f := tempFile(t, data)
	n, err := c.sendFileOnce(f, int64(len(data)))
	if err != nil || n >= int64(len(data)) {
		t.Fatalf("sendFileOnce: %d of %d bytes, %v; want part of the file", n, len(data), err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	tc, err := c.tcp()
	if err != nil {
		t.Fatalf("tcp: %v", err)
	}
	if again, _ := c.tcp(); again != tc || c.fd != -1 {
		t.Fatalf("second tcp: %p (fd %d), want the same %p and the bare socket given up", again, c.fd, tc)
	}
	if _, err := io.Copy(tc, f); err != nil {
		t.Fatalf("the rest: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("client got %d bytes, want the %d of the file", len(b), len(data))
	}
}

// A small file goes whole in one sendfile, Close closes the bare socket
// (the client reads the file, then EOF), and the connection cannot be used
// after: a second Close, tcp and Write fail with net.ErrClosed.
func TestQueuedConnSmallFileAndClose(t *testing.T) {
	c, client := queuedPair(t, 0)
	data := bytes.Repeat([]byte("queued "), 500)
	n, err := c.sendFileOnce(tempFile(t, data), int64(len(data)))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("sendFileOnce: %d of %d bytes, %v", n, len(data), err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(3 * time.Second))
	if b, err := io.ReadAll(client); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("client got %d bytes (%v), want %d and EOF", len(b), err, len(data))
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	if n, err := c.sendFileOnce(tempFile(t, data), int64(len(data))); n != 0 || err != nil {
		t.Errorf("sendFileOnce after Close: %d, %v; want nothing sent and no error", n, err)
	}
}

// A client that dropped the data connection (a reset) before the file went
// out: sendFileOnce on the bare socket sends nothing and says what failed
// and with whom, so the transfer ends in its error reply, not a hang.
func TestQueuedConnSendToDroppedClient(t *testing.T) {
	c, client := queuedPair(t, 0)
	client.SetLinger(0) // close with a reset
	client.Close()
	time.Sleep(20 * time.Millisecond) // the reset reaches the server's socket
	data := bytes.Repeat([]byte("lost "), 100)
	n, err := c.sendFileOnce(tempFile(t, data), int64(len(data)))
	var op *net.OpError
	if n != 0 || !errors.As(err, &op) || op.Op != "sendfile" || op.Addr.String() != c.remote.String() ||
		!(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		t.Fatalf("sendFileOnce to a reset client: %d bytes, %v; want 0 and a sendfile error naming %v", n, err, c.remote)
	}
}
