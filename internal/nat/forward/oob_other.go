//go:build !unix

package forward

import "syscall"

// keepUrgentInline does nothing outside Unix: there the gateway passes on
// urgent data as the system delivers it (not tested on Windows).
func keepUrgentInline(network, address string, c syscall.RawConn) error { return nil }
