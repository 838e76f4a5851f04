package ftp

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxBlockingSends bounds the transfers in sendFileBlocking and
// receiveFileBlocking at once. Each holds an OS thread blocked in the
// kernel; past the bound, transfers take Go's non-blocking sendfile and
// splice paths, which need no thread of their own (Go stops a process at
// 10,000 threads).
const maxBlockingSends = 256

var blockingSends atomic.Int32

// acquireBlocking takes one of the maxBlockingSends places; the caller
// gives it back with blockingSends.Add(-1).
func acquireBlocking() bool {
	if blockingSends.Add(1) > maxBlockingSends {
		blockingSends.Add(-1)
		return false
	}
	return true
}

// blockingMode switches sock to blocking mode with timeoutOpt
// (SO_SNDTIMEO or SO_RCVTIMEO) set to timeout, the data timeout, until
// restore puts the socket back as Go's poller expects it.
func blockingMode(sock, timeoutOpt int, timeout time.Duration) (restore func(), err error) {
	if err := unix.SetNonblock(sock, false); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	if timeout > 0 {
		tv := unix.NsecToTimeval(timeout.Nanoseconds())
		unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, timeoutOpt, &tv)
	}
	return func() {
		if timeout > 0 {
			unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, timeoutOpt, &unix.Timeval{})
		}
		unix.SetNonblock(sock, true)
	}, nil
}

// sendFileBlocking sends size bytes of f from its current position (fewer
// if the file ends first) over c with sendfile(2), on a socket switched to
// blocking mode for the transfer, as vsftpd and ProFTPD send files. Go's own sendfile path (io.Copy) keeps
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
	if !acquireBlocking() {
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
	// The file's descriptor is used inside its Control call, which keeps
	// it from being closed (and its number reused) meanwhile.
	var sendErr, werr error
	cerr := src.Control(func(fdu uintptr) {
		srcFD := int(fdu)
		werr = dst.Write(func(fd uintptr) bool {
			sock := int(fd)
			restore, err := blockingMode(sock, unix.SO_SNDTIMEO, timeout)
			if err != nil {
				sendErr = err
				return true
			}
			defer restore()
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
	})
	if cerr != nil {
		return 0, nil, false
	}
	if sendErr == nil {
		sendErr = werr
	}
	return written, sendErr, true
}

// receiveFileBlocking writes everything c delivers until the client closes
// it into f, at f's position, with splice(2): socket to a pipe, pipe to the
// file, with the socket in blocking mode for the transfer. It is the
// receiving twin of sendFileBlocking, for the same reason: Go's own splice
// path (io.Copy into an *os.File) waits in the poller each time the socket
// runs dry, which costs uploads about a third of their rate here
// (BENCHMARKS.md).
//
// The data timeout becomes SO_RCVTIMEO: a client that sends nothing for the
// whole timeout fails the transfer. An abort shuts the socket down, which
// ends the blocked call; the caller's abort flag, not the clean end, then
// decides that the upload is discarded.
//
// handled is false, with nothing read, when the bound is reached, f is in
// append mode (splice refuses those) or c cannot be used this way.
func receiveFileBlocking(c *net.TCPConn, f *os.File, timeout time.Duration) (written int64, err error, handled bool) {
	if !acquireBlocking() {
		return 0, nil, false
	}
	defer blockingSends.Add(-1)
	src, err := c.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	dst, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	// The file's descriptor is used inside its Control call, which keeps
	// it from being closed (and its number reused) meanwhile: an upload
	// can be aborted from another goroutine.
	var recvErr, rerr error
	handled = true
	cerr := dst.Control(func(fdu uintptr) {
		written, recvErr, rerr, handled = receiveIntoFD(c, src, int(fdu), f.Name(), timeout)
	})
	if cerr != nil || !handled {
		return 0, nil, false
	}
	if recvErr == nil {
		recvErr = rerr
	}
	return written, recvErr, true
}

// receiveIntoFD is receiveFileBlocking's loop, on the file's descriptor.
func receiveIntoFD(c *net.TCPConn, src syscall.RawConn, fileFD int, fileName string, timeout time.Duration) (written int64, recvErr, rerr error, handled bool) {
	if fl, err := unix.FcntlInt(uintptr(fileFD), unix.F_GETFL, 0); err != nil || fl&unix.O_APPEND != 0 {
		return 0, nil, nil, false
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, nil, nil, false
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	// A pipe the size of a splice: the default 64 KiB would need 16 calls
	// per MiB each way. Without the privilege for 1 MiB, the default works.
	unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, spliceSize)

	rerr = src.Read(func(fd uintptr) bool {
		sock := int(fd)
		restore, err := blockingMode(sock, unix.SO_RCVTIMEO, timeout)
		if err != nil {
			recvErr = err
			return true
		}
		defer restore()
		for {
			n, err := unix.Splice(sock, nil, p[1], nil, spliceSize, unix.SPLICE_F_MOVE|unix.SPLICE_F_MORE)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				// The whole SO_RCVTIMEO passed without a byte.
				recvErr = &net.OpError{Op: "splice", Net: "tcp", Addr: c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
				return true
			case err != nil:
				recvErr = &net.OpError{Op: "splice", Net: "tcp", Addr: c.RemoteAddr(), Err: os.NewSyscallError("splice", err)}
				return true
			case n == 0:
				return true // the client closed: the end of the upload
			}
			for n > 0 {
				m, err := unix.Splice(p[0], nil, fileFD, nil, int(n), unix.SPLICE_F_MOVE)
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					// A full disk is ENOSPC here, as from write(2).
					recvErr = &os.PathError{Op: "write", Path: fileName, Err: err}
					return true
				}
				n -= m
				written += m
			}
		}
	})
	return written, recvErr, rerr, true
}

// spliceSize is the most one splice call moves, and the pipe's size.
const spliceSize = 1 << 20
