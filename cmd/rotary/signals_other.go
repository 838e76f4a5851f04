//go:build !unix

package main

import "os"

// reloadSignals: Windows has no SIGHUP; restart the service instead.
var reloadSignals []os.Signal
