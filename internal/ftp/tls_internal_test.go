package ftp

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rotary-ftp/rotary/internal/tlscert"
)

// readerConn is a net.Conn that reads from r and counts what it gave out.
type readerConn struct {
	net.Conn
	r    io.Reader
	read int
}

func (c *readerConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// FuzzRecordConn checks recordConn's promise: the bytes come out unchanged,
// and no read takes any byte beyond the end of the record it is in (after
// CCC, what follows the last record is clear text for the session).
func FuzzRecordConn(f *testing.F) {
	f.Add([]byte{21, 3, 3, 0, 2, 1, 0, 'N', 'O', 'O', 'P'}, uint8(0), uint8(7))
	f.Add([]byte{22, 3, 1, 0, 5, 1, 2, 3, 4, 5, 23, 3, 3, 0, 1, 9}, uint8(3), uint8(1))
	f.Add([]byte{23, 3, 3, 0xff, 0xff, 1}, uint8(2), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, split, bufSize uint8) {
		cut := min(int(split), len(data))
		under := &readerConn{r: bytes.NewReader(data[cut:])}
		c := &recordConn{Conn: under, pending: bytes.Clone(data[:cut])}
		// Record boundaries of the whole stream.
		ends := map[int]bool{}
		for pos := 0; pos+5 <= len(data); {
			pos += 5 + (int(data[pos+3])<<8 | int(data[pos+4]))
			ends[pos] = true
		}
		var out []byte
		buf := make([]byte, int(bufSize)%64+1)
		for i := 0; i < len(data)+10; i++ {
			before := len(out)
			n, err := c.Read(buf)
			out = append(out, buf[:n]...)
			for p := before + 1; p < len(out); p++ {
				if ends[p] {
					t.Fatalf("a read from %d to %d crossed the record end at %d", before, len(out), p)
				}
			}
			if err != nil {
				break
			}
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("read %x, want %x", out, data)
		}
		if under.read+cut != len(out) {
			t.Fatalf("took %d bytes from the connection, passed on %d", under.read+cut, len(out))
		}
	})
}

// writeCounter counts the writes that reach the TCP connection.
type writeCounter struct {
	net.Conn
	writes int
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestBatchConnOneWritePerChunk: between a batch's start and its flush the
// records crypto/tls writes for one large Write reach the socket in a
// single write, and the client reads exactly the bytes sent; outside a
// batch (the handshake, close_notify) writes pass straight through.
func TestBatchConnOneWritePerChunk(t *testing.T) {
	certPEM, keyPEM, err := tlscert.Generate([]string{"127.0.0.1"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		got, err := io.ReadAll(tc)
		done <- result{got, err}
	}()
	raw, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	counter := &writeCounter{Conn: raw}
	b := &batchConn{Conn: counter}
	sc := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := sc.Handshake(); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5*tlsSendChunk/2)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var buf []byte
	for _, chunk := range [][]byte{data[:tlsSendChunk], data[tlsSendChunk : 2*tlsSendChunk], data[2*tlsSendChunk:]} {
		before := counter.writes
		if buf == nil {
			buf = make([]byte, 0, recordsSize(len(chunk)))
		}
		b.buf = buf[:0]
		if _, err := sc.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if buf, err = b.flush(buf); err != nil {
			t.Fatal(err)
		}
		if n := counter.writes - before; n != 1 {
			t.Fatalf("a %d-byte Write reached the socket in %d writes, want 1", len(chunk), n)
		}
		if b.buf != nil {
			t.Fatal("still batching after flush")
		}
	}
	if err := sc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	raw.Close()
	if r.err != nil {
		t.Fatalf("client: %v", r.err)
	}
	if !bytes.Equal(r.got, data) {
		t.Fatalf("client read %d bytes differing from the %d sent", len(r.got), len(data))
	}
}
