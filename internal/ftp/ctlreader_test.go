package ftp

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// readAllSlices reads until an error other than ErrBufferFull and returns
// the pieces, the full-buffer count and the final error.
func readAllSlices(c *ctlReader) (pieces []string, full int, err error) {
	for {
		b, err := c.readSlice()
		if len(b) > 0 {
			pieces = append(pieces, string(b))
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			full++
			continue
		}
		if err != nil {
			return pieces, full, err
		}
	}
}

// The control reader splits lines as bufio.Reader.ReadSlice does, on the
// raw socket path and on the generic one, however the bytes arrive.
func TestCtlReaderLines(t *testing.T) {
	long := strings.Repeat("x", readBufferSize+100)
	cases := []struct {
		name   string
		writes []string
		want   []string
		full   int
	}{
		{"one line", []string{"NOOP\r\n"}, []string{"NOOP\r\n"}, 0},
		{"pipelined", []string{"USER a\r\nPASS b\r\nPWD\r\n"}, []string{"USER a\r\n", "PASS b\r\n", "PWD\r\n"}, 0},
		{"split", []string{"RE", "TR f", "ile\r", "\n"}, []string{"RETR file\r\n"}, 0},
		{"longer than the buffer", []string{long + "\r\n"}, []string{long[:readBufferSize], long[readBufferSize:] + "\r\n"}, 1},
		{"unterminated at EOF", []string{"QUIT"}, []string{"QUIT"}, 0},
	}
	for _, c := range cases {
		for _, kind := range []string{"tcp", "pipe"} {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				var server, client net.Conn
				if kind == "tcp" {
					server, client = tcpPair(t)
				} else {
					server, client = net.Pipe()
					defer server.Close()
				}
				r := newCtlReader(server)
				if (r.raw != nil) != (kind == "tcp" && rawReads) {
					t.Fatalf("raw path %v for %s", r.raw != nil, kind)
				}
				go func() {
					for _, w := range c.writes {
						client.Write([]byte(w))
						time.Sleep(5 * time.Millisecond)
					}
					client.Close()
				}()
				pieces, full, err := readAllSlices(r)
				if err != io.EOF {
					t.Errorf("final error %v, want EOF", err)
				}
				// A piece may come in more parts than written only where the
				// buffer filled; join and compare.
				if strings.Join(pieces, "") != strings.Join(c.want, "") || full != c.full {
					t.Errorf("pieces %q (%d full), want %q (%d full)", pieces, full, c.want, c.full)
				}
				if c.full == 0 && len(pieces) != len(c.want) {
					t.Errorf("pieces %q, want %q", pieces, c.want)
				}
			})
		}
	}
}

// An idle session holds no read buffer on the raw path: once everything
// read is consumed, a read that has to wait gives its buffer back.
func TestCtlReaderIdleHoldsNoBuffer(t *testing.T) {
	if !rawReads {
		t.Skip("no raw reads here")
	}
	server, client := tcpPair(t)
	r := newCtlReader(server)
	client.Write([]byte("NOOP\r\n"))
	if line, err := r.readSlice(); err != nil || string(line) != "NOOP\r\n" {
		t.Fatalf("readSlice = %q, %v", line, err)
	}
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.readSlice(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle read: %v, want a deadline error", err)
	}
	if r.buf != nil {
		t.Error("an idle reader holds its buffer")
	}
	// A deadline in the middle of a line keeps what arrived for the caller.
	client.Write([]byte("STA"))
	time.Sleep(20 * time.Millisecond)
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if part, err := r.readSlice(); !errors.Is(err, os.ErrDeadlineExceeded) || string(part) != "STA" {
		t.Fatalf("partial read = %q, %v; want \"STA\" and a deadline error", part, err)
	}
	server.SetReadDeadline(time.Time{})
	client.Write([]byte("T\r\n"))
	if line, err := r.readSlice(); err != nil || string(line) != "T\r\n" {
		t.Fatalf("rest of the line = %q, %v", line, err)
	}
}
