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

// detach takes c's socket out of Go's poller for a blocking transfer and
// gives t a descriptor of its own for it, in blocking mode, with
// timeoutOpt (SO_SNDTIMEO or SO_RCVTIMEO) set to the data timeout; c is
// closed. handled is false, with c untouched, when the descriptor cannot be
// duplicated; with an error after that, the socket is released already.
// Otherwise the caller ends with t.release.
//
// Go registers every connection with its poller (edge-triggered epoll),
// and the kernel reports each change of the socket's state there: every
// ACK that frees room in the send buffer, every segment that arrives.
// While the transfer sleeps in sendfile or splice, a report can wake the
// thread the runtime parks in epoll_wait, which then finds nothing to do.
// During a STOR here that was about 9,000 epoll_wait returns a second
// (21 to 27 detached), each on a CPU the client wanted; during a RETR
// about 60 (30 detached), since ACKs come in batches (BENCHMARKS.md).
// Closing the connection removes the registration; a duplicate
// descriptor keeps the socket open.
//
// From here on t.abort wakes the blocked call by shutting the socket down
// through t.wake, under t.mu, so it never reaches a closed descriptor.
func (t *transfer) detach(c *net.TCPConn, timeoutOpt int, timeout time.Duration) (sock int, handled bool, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, false, nil
	}
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		sock, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || dupErr != nil {
		return -1, false, nil
	}
	t.mu.Lock()
	t.wake = func() { unix.Shutdown(sock, unix.SHUT_RDWR) }
	t.mu.Unlock()
	t.detached = true
	c.Close()
	if err := unix.SetNonblock(sock, false); err != nil {
		t.release(sock)
		return -1, true, os.NewSyscallError("fcntl", err)
	}
	if timeout > 0 {
		tv := unix.NsecToTimeval(timeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, timeoutOpt, &tv); err != nil {
			t.release(sock)
			return -1, true, os.NewSyscallError("setsockopt", err)
		}
	}
	return sock, true, nil
}

// release closes the descriptor detach gave, which closes the data
// connection.
func (t *transfer) release(sock int) {
	t.mu.Lock()
	t.wake = nil
	unix.Close(sock)
	t.mu.Unlock()
}

// sendFileBlocking sends size bytes of f from its current position (fewer
// if the file ends first) over c with sendfile(2), on a socket in blocking
// mode, as vsftpd and ProFTPD send files. Go's own sendfile path (io.Copy)
// keeps the socket non-blocking: each time the socket buffer fills,
// sendfile returns EAGAIN and the goroutine waits for the poller, a round
// trip through the scheduler per buffer's worth. Blocking, the kernel
// sleeps in sendfile and goes on as soon as there is room: one system call
// per sendFileChunk, no wait in the poller (BENCHMARKS.md has the
// figures). The socket leaves Go's poller for the transfer (t.detach), and
// c is closed when it returns handled.
//
// The data timeout becomes SO_SNDTIMEO: the kernel gives each send the
// whole timeout, so a slow client that keeps reading never times out and
// one that stops reading fails after the timeout. Anything that must stop
// the transfer sooner calls t.abort, which shuts the socket down and so
// wakes the blocked call; closing alone would wait for it.
//
// handled is false, with nothing sent and c untouched, when the bound is
// reached or c cannot be used this way; the caller then takes the
// non-blocking path.
func sendFileBlocking(t *transfer, c *net.TCPConn, f *os.File, size int64, timeout time.Duration) (written int64, err error, handled bool) {
	if !acquireBlocking() {
		return 0, nil, false
	}
	defer blockingSends.Add(-1)
	src, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	addr := c.RemoteAddr()
	sock, handled, err := t.detach(c, unix.SO_SNDTIMEO, timeout)
	if !handled || err != nil {
		return 0, err, handled
	}
	defer t.release(sock)
	// Corked, the socket sends only full segments, and the last, partial
	// one when it is uncorked below, as ProFTPD sends files: +8% to +60% in
	// interleaved runs here, over Nagle's algorithm alone (BENCHMARKS.md).
	corked := unix.SetsockoptInt(sock, unix.IPPROTO_TCP, unix.TCP_CORK, 1) == nil
	// The file's descriptor is used inside its Control call, which keeps
	// it from being closed (and its number reused) meanwhile.
	var sendErr error
	cerr := src.Control(func(fdu uintptr) {
		srcFD := int(fdu)
		for written < size {
			// One call per sendFileChunk; it returns early on a signal, a
			// timeout after some progress, or an error.
			n, err := syscall.Sendfile(sock, srcFD, nil, int(min(size-written, sendFileChunk)))
			if n > 0 {
				written += int64(n)
				t.progress(int64(n))
			}
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				// The whole SO_SNDTIMEO passed without room for a byte.
				sendErr = &net.OpError{Op: "sendfile", Net: "tcp", Addr: addr, Err: os.ErrDeadlineExceeded}
				return
			case err != nil:
				sendErr = &net.OpError{Op: "sendfile", Net: "tcp", Addr: addr, Err: os.NewSyscallError("sendfile", err)}
				return
			case n == 0:
				return // the file ended early
			}
		}
	})
	if corked {
		unix.SetsockoptInt(sock, unix.IPPROTO_TCP, unix.TCP_CORK, 0)
	}
	if sendErr == nil {
		sendErr = cerr
	}
	return written, sendErr, true
}

// receiveFileBlocking writes everything c delivers until the client closes
// it into f, at f's position, with splice(2): socket to a pipe, pipe to the
// file, with the socket in blocking mode and out of Go's poller
// (t.detach) for the transfer. It is the receiving twin of
// sendFileBlocking, for the same reason: Go's own splice path (io.Copy
// into an *os.File) waits in the poller each time the socket runs dry,
// which costs uploads about a third of their rate here (BENCHMARKS.md).
//
// The data timeout becomes SO_RCVTIMEO: a client that sends nothing for the
// whole timeout fails the transfer. t.abort shuts the socket down, which
// ends the blocked call; the caller's abort flag, not the clean end, then
// decides that the upload is discarded.
//
// handled is false, with nothing read and c untouched, when the bound is
// reached, f is in append mode (splice refuses those) or c cannot be used
// this way.
func receiveFileBlocking(t *transfer, c *net.TCPConn, f *os.File, timeout time.Duration) (written int64, err error, handled bool) {
	if !acquireBlocking() {
		return 0, nil, false
	}
	defer blockingSends.Add(-1)
	dst, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	// The file's descriptor is used inside its Control call, which keeps
	// it from being closed (and its number reused) meanwhile: an upload
	// can be aborted from another goroutine.
	cerr := dst.Control(func(fdu uintptr) {
		written, err, handled = receiveIntoFD(t, c, int(fdu), f.Name(), timeout)
	})
	if cerr != nil && !handled {
		return 0, nil, false
	}
	if err == nil {
		err = cerr
	}
	return written, err, handled
}

// receiveIntoFD is receiveFileBlocking's loop, on the file's descriptor.
func receiveIntoFD(t *transfer, c *net.TCPConn, fileFD int, fileName string, timeout time.Duration) (written int64, recvErr error, handled bool) {
	if fl, err := unix.FcntlInt(uintptr(fileFD), unix.F_GETFL, 0); err != nil || fl&unix.O_APPEND != 0 {
		return 0, nil, false
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, nil, false
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	// A pipe the size of a splice: the default 64 KiB would need 16 calls
	// per MiB each way. Without the privilege for a bigger pipe (the
	// per-user pipe limit), the default works.
	unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, spliceSize)

	addr := c.RemoteAddr()
	sock, handled, err := t.detach(c, unix.SO_RCVTIMEO, timeout)
	if !handled || err != nil {
		return 0, err, handled
	}
	defer t.release(sock)
	for {
		n, err := unix.Splice(sock, nil, p[1], nil, spliceSize, unix.SPLICE_F_MOVE|unix.SPLICE_F_MORE)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// The whole SO_RCVTIMEO passed without a byte.
			return written, &net.OpError{Op: "splice", Net: "tcp", Addr: addr, Err: os.ErrDeadlineExceeded}, true
		case err != nil:
			return written, &net.OpError{Op: "splice", Net: "tcp", Addr: addr, Err: os.NewSyscallError("splice", err)}, true
		case n == 0:
			return written, nil, true // the client closed: the end of the upload
		}
		for n > 0 {
			m, err := unix.Splice(p[0], nil, fileFD, nil, int(n), unix.SPLICE_F_MOVE)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				// A full disk is ENOSPC here, as from write(2).
				return written, &os.PathError{Op: "write", Path: fileName, Err: err}, true
			}
			n -= m
			written += m
			t.progress(int64(m))
		}
	}
}

// sendFileChunk is the most one sendfile call sends: 64 MiB. The socket is
// corked for the send (sendFileBlocking), so a long call no longer holds
// the receiver back as it did uncorked, when 64 KiB calls were fastest
// (3030/3001/2696 MB/s against 2077/2637/2257 for 64 MiB, 512 MiB file).
// Corked, 1 GiB file, four interleaved rounds of 8 MiB / 64 MiB / 1 GiB
// calls: 4719/5194/5141, 4608/4011/4741, 4089/4284/4593, 3731/4259/4465
// MB/s, and 64 KiB calls 3500-3781 (BENCHMARKS.md). A transfer reports its
// progress between calls, so calls bigger than 64 MiB would leave STAT and
// the metrics without news for too long on a slow link.
const sendFileChunk = 64 << 20

// spliceSize is the most one splice call moves, and the pipe's size.
//
// 512 KiB, not more: measured after another process's uploads had churned
// the machine's memory, uploads through a 1 MiB pipe fell to 350-1,740 MB/s
// (2,250-3,600 otherwise), while a 512 KiB pipe gave 2,850-3,040 in the same
// state and as much as 1 MiB otherwise; 256 KiB was steady but slower, and
// 64 KiB slower still (see BENCHMARKS.md, findings after run 8). Half the
// size also halves what each upload takes of the per-user pipe limit.
const spliceSize = 512 << 10

// sendFileOnce sends up to size bytes of f, from its position, to c in one
// non-blocking sendfile(2) that never waits for room in the socket buffer:
// a small file goes out whole before the client is told 150. It returns
// what was sent (f's position moves by as much); 0 with no error when the
// socket had no room or c or f cannot be used this way, and the caller
// then takes the usual path.
func sendFileOnce(c *net.TCPConn, f *os.File, size int64) (int64, error) {
	if size <= 0 {
		return 0, nil
	}
	dst, err := c.SyscallConn()
	if err != nil {
		return 0, nil
	}
	var (
		n       int64
		sendErr error
	)
	werr := dst.Write(func(dstFD uintptr) bool {
		n, sendErr = sendFileNow(int(dstFD), f, size, c.RemoteAddr())
		return true // whatever came: never wait here
	})
	if sendErr == nil && werr != nil {
		// c closed meanwhile (an abort)
		return 0, &net.OpError{Op: "sendfile", Net: "tcp", Addr: c.RemoteAddr(), Err: os.NewSyscallError("sendfile", werr)}
	}
	return n, sendErr
}

// sendFileNow is sendFileOnce's system call on the socket dst: one
// non-blocking sendfile(2) of up to size bytes of f. A full socket buffer
// (EAGAIN) or an f that cannot be used this way gives 0 and no error;
// addr names the peer in an error.
func sendFileNow(dst int, f *os.File, size int64, addr net.Addr) (int64, error) {
	src, err := f.SyscallConn()
	if err != nil {
		return 0, nil
	}
	var (
		n       int
		sendErr error
	)
	// The file's descriptor is used inside its Control call, which keeps
	// it from being closed (and its number reused) meanwhile.
	if err := src.Control(func(srcFD uintptr) {
		for {
			n, sendErr = syscall.Sendfile(dst, int(srcFD), nil, int(size))
			if sendErr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, nil
	}
	switch {
	case sendErr == syscall.EAGAIN:
		return 0, nil
	case sendErr != nil:
		return 0, &net.OpError{Op: "sendfile", Net: "tcp", Addr: addr, Err: os.NewSyscallError("sendfile", sendErr)}
	}
	return int64(max(n, 0)), nil
}
