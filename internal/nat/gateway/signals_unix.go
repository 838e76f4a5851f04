//go:build !windows

package gateway

import (
	"os"
	"syscall"
)

// ReloadSignals are the signals that reload the configuration: SIGHUP.
func ReloadSignals() []os.Signal { return []os.Signal{syscall.SIGHUP} }

// StopSignals drain and stop the gateway.
func StopSignals() []os.Signal { return []os.Signal{os.Interrupt, syscall.SIGTERM} }
