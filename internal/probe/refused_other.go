//go:build !windows

package probe

import "syscall"

// refused are the errors of a connect that the peer answered with a reset.
var refused = []error{syscall.ECONNREFUSED}
