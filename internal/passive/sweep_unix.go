//go:build unix

package passive

import (
	"net"
	"net/netip"
	"syscall"
)

// sweepsQueue says that sweepQueue works here.
const sweepsQueue = true

// sweepQueue closes, without waiting, every connection in ln's listen queue
// and returns their remote addresses: one accept system call when the queue
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

func sockaddrString(sa syscall.Sockaddr) string {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return "unknown"
}
