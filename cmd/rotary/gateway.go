package main

import (
	"fmt"
	"os"
)

// runGateway is replaced by the gateway implementation (issue 5).
func runGateway(args []string) int {
	fmt.Fprintln(os.Stderr, "rotary gateway: not built yet")
	return 2
}
