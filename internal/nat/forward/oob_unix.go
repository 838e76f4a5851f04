//go:build unix

package forward

import "syscall"

// keepUrgentInline is the outside listeners' socket Control: it sets
// SO_OOBINLINE, which the clients' connections inherit from the listening
// socket (so it is in force before their first byte), so that TCP urgent
// data stays in the stream the gateway passes on. FTP clients send ABOR
// that way (Python's ftplib sends "ABOR\r\n" with MSG_OOB; RFC 959's Telnet
// Synch is urgent data): without it the kernel holds the urgent byte apart,
// the server never sees the command's end, and the ABOR hangs.
func keepUrgentInline(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	}); err != nil {
		return err
	}
	return serr
}
