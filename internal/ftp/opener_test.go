package ftp_test

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rotary-ftp/rotary/internal/ftp"
)

// writeRecorder keeps every Write on the connections its listener accepts.
type writeRecorder struct {
	net.Listener
	mu     sync.Mutex
	writes []string
}

func (l *writeRecorder) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordedConn{Conn: c, l: l}, nil
}

func (l *writeRecorder) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes...)
}

type recordedConn struct {
	net.Conn
	l *writeRecorder
}

func (c *recordedConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, string(p))
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// A small RETR whose file goes out in one system call answers 150 and 226
// in one write (a write fewer per file); a file that does not fit the
// socket buffer still gets its 150 before the server waits on the client:
// a client that reads the 150 before it reads any data gets it, then the
// whole file, then 226; and a data connection reset by the client ends in
// 150 and 426.
func TestRETROpenerWithTheFinalReply(t *testing.T) {
	l, err := ftp.ListenControl("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &writeRecorder{Listener: l}
	ts := startServerOn(t, rec, 4, nil)
	small := bytes.Repeat([]byte("small file "), 400)
	big := make([]byte, 900<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	writeFile(t, filepath.Join(ts.root, "small.txt"), small)
	writeFile(t, filepath.Join(ts.root, "big.bin"), big)
	writeFile(t, filepath.Join(ts.root, "empty"), nil)

	r := ts.raw(t)
	r.Login("u", "p")
	r.Must(200, "TYPE I")
	for _, name := range []string{"small.txt", "empty"} {
		data := r.PASV()
		before := len(rec.all())
		r.Send("RETR %s", name)
		r.Expect(150)
		got, err := io.ReadAll(data)
		data.Close()
		if err != nil {
			t.Fatal(err)
		}
		r.Expect(226)
		want := map[string][]byte{"small.txt": small, "empty": nil}[name]
		if !bytes.Equal(got, want) {
			t.Fatalf("RETR %s: %d bytes, want %d", name, len(got), len(want))
		}
		writes := rec.all()[before:]
		if len(writes) != 1 || !strings.HasPrefix(writes[0], "150 ") || !strings.Contains(writes[0], "\r\n226 Transfer complete\r\n") {
			t.Errorf("RETR %s: the server wrote %q, want 150 and 226 in one write", name, writes)
		}
	}

	// A client that reset its data connection before RETR: the failed
	// sendfile still answers 150, then 426, in one write.
	data := r.PASV()
	data.(*net.TCPConn).SetLinger(0)
	data.Close()
	before := len(rec.all())
	r.Send("RETR small.txt")
	r.Expect(150)
	r.Expect(426)
	if writes := rec.all()[before:]; len(writes) != 1 || !strings.HasPrefix(writes[0], "150 ") || !strings.Contains(writes[0], "\r\n426 ") {
		t.Errorf("RETR on a reset data connection: the server wrote %q, want 150 and 426 in one write", writes)
	}

	// big.bin cannot fit: the client's receive buffer is made small, and
	// the client reads the 150 before it reads a byte of data.
	data = r.PASV()
	data.(*net.TCPConn).SetReadBuffer(16 << 10)
	before = len(rec.all())
	r.Send("RETR big.bin")
	r.Expect(150)
	got, err := io.ReadAll(data)
	data.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("RETR big.bin: %d bytes (%v), want %d", len(got), err, len(big))
	}
	r.Expect(226)
	// Whether it went out in one call depends on how far the kernel grew
	// the socket buffers; either way 150 came first, and the lone 150 path
	// is TestSendFileOnce's.
	if writes := rec.all()[before:]; len(writes) == 0 || !strings.HasPrefix(writes[0], "150 ") {
		t.Errorf("RETR big.bin: the server wrote %q, want 150 first", writes)
	}
}
