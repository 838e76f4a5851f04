//go:build !unix

package ftp

import "net"

// setOOBInline is a no-op where SO_OOBINLINE is not available through the
// syscall package; ABOR sent in band still works there.
func setOOBInline(c net.Conn) {}
