//go:build unix

package ftp

import (
	"net"
	"syscall"
)

// setOOBInline keeps TCP urgent data in the normal stream. Python's ftplib
// sends "ABOR\r\n" with MSG_OOB, and RFC 959 clients send Telnet IP/Synch as
// urgent data; without SO_OOBINLINE the urgent byte would vanish from the
// command stream and the command would never end.
func setOOBInline(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	})
}
