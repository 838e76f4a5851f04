//go:build unix

package main

import (
	"os"
	"syscall"
)

// reloadSignals make `rotary serve` re-read its configuration.
var reloadSignals = []os.Signal{syscall.SIGHUP}
