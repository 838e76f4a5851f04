package ftp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"syscall"
)

// readBufferSize is small on purpose: almost every command fits. Longer
// lines (up to MaxLine) are assembled in session.partial.
const readBufferSize = 512

var ctlBufPool = sync.Pool{New: func() any { return new([readBufferSize]byte) }}

// ctlReader buffers the control connection, like a bufio.Reader of
// readBufferSize bytes, except that an idle session holds no buffer. On a
// plain TCP connection (Unix) a read with nothing buffered waits for data
// through the poller and takes a buffer from a pool only once bytes have
// arrived; when everything read has been consumed, the buffer goes back.
// With 10,000 idle sessions that is 10,000 fewer buffers (issue 6).
// Connections without a raw descriptor (TLS) keep a buffer.
type ctlReader struct {
	src  io.Reader
	raw  syscall.RawConn // set when reads go straight to the socket
	buf  *[readBufferSize]byte
	r, w int
}

func newCtlReader(src io.Reader) *ctlReader {
	c := &ctlReader{}
	c.reset(src)
	return c
}

// reset reads from src from now on, dropping anything buffered (as
// bufio.Reader.Reset does).
func (c *ctlReader) reset(src io.Reader) {
	c.src, c.raw, c.r, c.w = src, nil, 0, 0
	if tc, ok := src.(*net.TCPConn); ok && rawReads {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.releaseIfEmpty()
}

// buffered returns the bytes read but not yet consumed.
func (c *ctlReader) buffered() []byte {
	if c.buf == nil {
		return nil
	}
	return c.buf[c.r:c.w]
}

// readSlice is bufio.Reader.ReadSlice('\n'): a line with its '\n' (valid
// until the next call), or what was buffered with bufio.ErrBufferFull (the
// buffer is full and holds no '\n') or with the read error.
func (c *ctlReader) readSlice() ([]byte, error) {
	for {
		if c.buf != nil {
			if i := bytes.IndexByte(c.buf[c.r:c.w], '\n'); i >= 0 {
				line := c.buf[c.r : c.r+i+1]
				c.r += i + 1
				return line, nil
			}
			if c.r == 0 && c.w == len(c.buf) {
				c.r = c.w
				return c.buf[:], bufio.ErrBufferFull
			}
		}
		if err := c.fill(); err != nil {
			line := c.buffered()
			c.r = c.w
			return line, err
		}
	}
}

// Read lets the reader drain into an io.Writer (CCC reads to close_notify).
func (c *ctlReader) Read(p []byte) (int, error) {
	if len(c.buffered()) == 0 {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buffered())
	c.r += n
	return n, nil
}

// fill reads more into the buffer, first moving what is unconsumed to its
// start.
func (c *ctlReader) fill() error {
	if c.r > 0 && c.buf != nil {
		c.w = copy(c.buf[:], c.buf[c.r:c.w])
		c.r = 0
	}
	if c.raw != nil {
		return c.fillRaw()
	}
	if c.buf == nil {
		c.buf = ctlBufPool.Get().(*[readBufferSize]byte)
	}
	for range 100 {
		n, err := c.src.Read(c.buf[c.w:])
		c.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// close gives the buffer back for good: the session has ended.
func (c *ctlReader) close() {
	if c.buf != nil {
		ctlBufPool.Put(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
	}
}

// releaseIfEmpty gives the buffer back when nothing in it is unconsumed.
func (c *ctlReader) releaseIfEmpty() {
	if c.buf != nil && c.r == c.w {
		ctlBufPool.Put(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
	}
}
