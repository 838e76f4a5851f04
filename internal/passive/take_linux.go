package passive

import (
	"net"
	"net/netip"
	"syscall"
)

// takesQueued says that acceptQueued works here.
const takesQueued = true

// acceptQueued accepts one connection from ln's queue without waiting:
// a non-blocking, close-on-exec descriptor and its remote address, or
// EAGAIN when the queue is empty. Nothing may be in ln's Accept.
func acceptQueued(ln *net.TCPListener) (int, netip.AddrPort, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	fd := -1
	var sa syscall.Sockaddr
	var acceptErr error
	// syscall's, not x/sys/unix's: the latter asks each IPv4 socket for its
	// protocol (one more system call) to tell its address apart.
	err = rc.Control(func(lfd uintptr) {
		for {
			fd, sa, acceptErr = syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			if acceptErr != syscall.EINTR && acceptErr != syscall.ECONNABORTED {
				return
			}
		}
	})
	if err == nil {
		err = acceptErr
	}
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	return fd, sockaddrAddrPort(sa), nil
}

func closeSocket(fd int) { syscall.Close(fd) }
