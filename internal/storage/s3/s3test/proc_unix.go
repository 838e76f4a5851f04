//go:build unix

package s3test

import (
	"os"
	"syscall"
)

var terminate os.Signal = syscall.SIGTERM
