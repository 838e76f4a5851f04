//go:build linux

package bench

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// blockingSendfile sends size bytes of f from offset 0 the way the C
// servers do: sendfile(2) on a socket in blocking mode, in one loop on one
// thread, without the Go netpoller (which parks the goroutine each time the
// socket buffer is full). It is the ceiling for a server's RETR.
func blockingSendfile(c net.Conn, f *os.File, size int64) (int64, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, errors.New("not a TCP connection")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	src := int(f.Fd())
	var off int64
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		if serr = syscall.SetNonblock(int(fd), false); serr != nil {
			return
		}
		defer syscall.SetNonblock(int(fd), true)
		for off < size {
			_, err := syscall.Sendfile(int(fd), src, &off, int(min(size-off, 1<<30)))
			if err == syscall.EINTR || err == syscall.EAGAIN {
				continue
			}
			if err != nil {
				serr = err
				return
			}
		}
	})
	if cerr != nil {
		return off, cerr
	}
	return off, serr
}
