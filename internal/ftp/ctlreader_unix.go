//go:build unix

package ftp

import (
	"io"
	"net"
	"sync"
	"syscall"
)

// rawReads: control reads on plain TCP go straight to the socket
// (ctlReader.fillRaw), so idle sessions hold no read buffer.
const rawReads = true

// fillRaw reads from the socket itself. While nothing has arrived the
// goroutine waits in the poller without a buffer.
func (c *ctlReader) fillRaw() error {
	c.releaseIfEmpty()
	op := rawReadPool.Get().(*rawRead)
	op.c = c
	err := c.raw.Read(op.read)
	n, rerr := op.n, op.err
	op.c, op.n, op.err = nil, 0, nil
	rawReadPool.Put(op)
	switch {
	case err != nil:
		return err // a deadline, or the connection closed
	case rerr != nil:
		return &net.OpError{Op: "read", Net: "tcp", Err: rerr}
	case n == 0:
		return io.EOF
	}
	c.w += n
	return nil
}

// rawRead is one fillRaw: the callback RawConn.Read calls, and what the
// read got. A closure made for each read would escape to the heap with
// its results (72 bytes of garbage a command), so fillRaw takes one from
// rawReadPool, whose read method value is made once per rawRead.
type rawRead struct {
	c    *ctlReader
	n    int
	err  error
	read func(fd uintptr) bool
}

var rawReadPool = sync.Pool{New: func() any {
	op := &rawRead{}
	op.read = op.readFD
	return op
}}

// readFD reads what the socket has into c's buffer, taking one from the
// pool first; it returns false (wait for data) when there is nothing yet.
func (op *rawRead) readFD(fd uintptr) bool {
	c := op.c
	if c.buf == nil {
		c.buf = ctlBufPool.Get().(*[readBufferSize]byte)
	}
	for {
		op.n, op.err = syscall.Read(int(fd), c.buf[c.w:])
		if op.err != syscall.EINTR {
			break
		}
	}
	if op.err == syscall.EAGAIN {
		c.releaseIfEmpty()
		return false
	}
	return true
}
