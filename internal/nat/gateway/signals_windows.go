//go:build windows

package gateway

import "os"

// ReloadSignals is empty on Windows, which has no SIGHUP: restart the
// gateway to load a changed file.
func ReloadSignals() []os.Signal { return nil }

// StopSignals drain and stop the gateway (Ctrl-C, or Ctrl-Break/close).
func StopSignals() []os.Signal { return []os.Signal{os.Interrupt} }
