//go:build !windows

package main

import (
	"fmt"
	"os"
)

// runService explains where services live on this OS.
func runService(args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(serviceUsage)
		return 0
	}
	fmt.Fprintln(os.Stderr, "rotary service: Windows services only; on Linux run rotary serve under systemd with packaging/rotary.service "+
		"(README, \"Run as a service (systemd)\")")
	return 2
}
