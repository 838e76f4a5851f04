//go:build windows

package probe

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// refused are the errors of a connect that the peer answered with a reset:
// Winsock reports WSAECONNREFUSED, which syscall.ECONNREFUSED does not match.
var refused = []error{syscall.ECONNREFUSED, windows.WSAECONNREFUSED}
