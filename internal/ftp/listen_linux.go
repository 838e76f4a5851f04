//go:build linux

package ftp

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// Go's keepalive defaults for TCP connections (net.defaultTCPKeepAlive*).
const (
	keepAliveIdle     = 15 // seconds
	keepAliveInterval = 15 // seconds
	keepAliveCount    = 9
)

func listenControl(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{
		// Not per connection: the listening socket carries it.
		KeepAlive: -1,
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = setListenerOptions(int(fd)) })
			if err != nil {
				return err
			}
			return serr
		},
	}
	return lc.Listen(ctx, "tcp", addr)
}

// setListenerOptions sets what accepted sockets inherit (Linux copies the
// listening socket into each accepted one).
func setListenerOptions(fd int) error {
	for _, o := range []struct {
		name       string
		level, opt int
		val        int
	}{
		{"SO_OOBINLINE", syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1},
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, keepAliveIdle},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, keepAliveInterval},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
	} {
		if err := syscall.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			return fmt.Errorf("set %s on the control listener: %w", o.name, err)
		}
	}
	return nil
}

// listenerSetsOptions reports whether l was made by ListenControl (or set
// up the same way): SO_OOBINLINE and SO_KEEPALIVE on the listening socket.
func listenerSetsOptions(l *net.TCPListener) bool {
	raw, err := l.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	raw.Control(func(fd uintptr) {
		oob, err1 := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE)
		ka, err2 := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		ok = err1 == nil && err2 == nil && oob != 0 && ka != 0
	})
	return ok
}
