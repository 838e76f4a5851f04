//go:build unix

package passive

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// sweepsQueue says that sweepQueue works here.
const sweepsQueue = true

// sweepQueue closes, without waiting, every connection in ln's listen queue
// and returns their remote addresses: one poll system call when the queue
// is empty. Nothing may be in ln's Accept.
func sweepQueue(ln *net.TCPListener) ([]string, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	// The listener's socket is non-blocking: accept returns EAGAIN at once
	// when the queue is empty. (A listener's RawConn has Control only.)
	var swept []string
	var acceptErr error
	err = rc.Control(func(fd uintptr) {
		if !queueMayHold(int(fd)) {
			return
		}
		for {
			nfd, sa, err := syscall.Accept(int(fd))
			switch err {
			case nil:
				syscall.Close(nfd)
				swept = append(swept, sockaddrString(sa))
				continue
			case syscall.EINTR, syscall.ECONNABORTED:
				continue
			case syscall.EAGAIN:
			default:
				acceptErr = err
			}
			return // the queue is empty, or accept failed
		}
	})
	if err == nil {
		err = acceptErr
	}
	return swept, err
}

// queueMayHold reports whether the listening socket fd has a connection
// in its queue, or may have (poll failed: the accept then says why). A
// poll costs half of an accept that finds nothing (BenchmarkSweepEmptyQueue:
// Linux allocates the new socket before it looks at the queue), and the
// queue is empty on almost every reservation.
func queueMayHold(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return true
		}
		return n > 0
	}
}

func sockaddrString(sa syscall.Sockaddr) string {
	if ap := sockaddrAddrPort(sa); ap.IsValid() {
		return ap.String()
	}
	return "unknown"
}

// sockaddrAddrPort is sa's address and port; invalid for other families.
func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
