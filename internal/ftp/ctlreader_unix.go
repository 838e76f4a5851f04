//go:build unix

package ftp

import (
	"io"
	"net"
	"syscall"
)

// rawReads: control reads on plain TCP go straight to the socket
// (ctlReader.fillRaw), so idle sessions hold no read buffer.
const rawReads = true

// fillRaw reads from the socket itself. While nothing has arrived the
// goroutine waits in the poller without a buffer.
func (c *ctlReader) fillRaw() error {
	c.releaseIfEmpty()
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		if c.buf == nil {
			c.buf = ctlBufPool.Get().(*[readBufferSize]byte)
		}
		for {
			n, rerr = syscall.Read(int(fd), c.buf[c.w:])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			c.releaseIfEmpty()
			return false // wait for data
		}
		return true
	})
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
