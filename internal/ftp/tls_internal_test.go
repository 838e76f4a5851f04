package ftp

import (
	"bytes"
	"io"
	"net"
	"testing"
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
