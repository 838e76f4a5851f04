package main

import (
	"fmt"
	"os"
)

// runBench is replaced by the benchmark client (issue 6).
func runBench(args []string) int {
	fmt.Fprintln(os.Stderr, "rotary bench: not built yet")
	return 2
}
