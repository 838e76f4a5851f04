package ftp

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// maxBlockingSends bounds the transfers in sendFileBlocking at once. Each
// holds an OS thread blocked in the kernel; past the bound, transfers take
// Go's non-blocking sendfile path, which needs no thread of its own (Go
// stops a process at 10,000 threads).
const maxBlockingSends = 256

var blockingSends atomic.Int32

// sendFileBlocking sends size bytes of f from its current position (fewer
// if the file ends first) over c
// with sendfile(2) on a socket switched to blocking mode for the transfer,
// as vsftpd and ProFTPD send files. Go's own sendfile path (io.Copy) keeps
// the socket non-blocking: each time the socket buffer fills, sendfile
// returns EAGAIN and the goroutine waits for the poller, a round trip
// through the scheduler per buffer's worth. Blocking, the kernel sleeps
// in sendfile and goes on as soon as there is room: one system call for
// the file (BENCHMARKS.md has the figures).
//
// The data timeout becomes SO_SNDTIMEO: the kernel gives each send the
// whole timeout, so a slow client that keeps reading never times out and
// one that stops reading fails after the timeout. Anything that must stop
// the transfer sooner shuts the socket down first, which wakes the blocked
// call (transfer.abort); closing alone would wait for it.
//
// handled is false, with nothing sent, when the bound is reached or c
// cannot be used this way; the caller then takes the non-blocking path.
func sendFileBlocking(c *net.TCPConn, f *os.File, size int64, timeout time.Duration) (written int64, err error, handled bool) {
	if blockingSends.Add(1) > maxBlockingSends {
		blockingSends.Add(-1)
		return 0, nil, false
	}
	defer blockingSends.Add(-1)
	dst, err := c.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	srcFD := -1
	if src.Control(func(fd uintptr) { srcFD = int(fd) }) != nil || srcFD < 0 {
		return 0, nil, false
	}
	var sendErr error
	werr := dst.Write(func(fd uintptr) bool {
		sock := int(fd)
		if err := syscall.SetNonblock(sock, false); err != nil {
			sendErr = os.NewSyscallError("fcntl", err)
			return true
		}
		defer syscall.SetNonblock(sock, true)
		if timeout > 0 {
			tv := syscall.NsecToTimeval(timeout.Nanoseconds())
			syscall.SetsockoptTimeval(sock, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
			defer syscall.SetsockoptTimeval(sock, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &syscall.Timeval{})
		}
		for written < size {
			// One call sends the file; it returns early on a signal, a
			// timeout after some progress, or an error.
			n, err := syscall.Sendfile(sock, srcFD, nil, int(min(size-written, 1<<30)))
			if n > 0 {
				written += int64(n)
			}
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				// The whole SO_SNDTIMEO passed without room for a byte.
				sendErr = &net.OpError{Op: "sendfile", Net: "tcp", Addr: c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
				return true
			case err != nil:
				sendErr = &net.OpError{Op: "sendfile", Net: "tcp", Addr: c.RemoteAddr(), Err: os.NewSyscallError("sendfile", err)}
				return true
			case n == 0:
				return true // the file ended early
			}
		}
		return true
	})
	if sendErr == nil {
		sendErr = werr
	}
	return written, sendErr, true
}
