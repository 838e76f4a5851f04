package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/rotary-ftp/rotary/internal/config"
	"github.com/rotary-ftp/rotary/internal/serveapp"
)

const checkUsage = `Usage: rotary check [--config FILE] [flags]

Validates a configuration the way rotary serve would load it (the same
config file and flags), then tries to bind the control listeners and every
passive port. Exit status: 0 all good, 1 problems found, 2 the
configuration itself is invalid.

Flags:
`

// runCheck validates a configuration the way `rotary serve` would load it,
// then tries to bind the control listeners and every passive port and
// reports the ones it cannot. Exit status: 0 all good, 1 problems found,
// 2 the configuration itself is invalid.
func runCheck(args []string) int {
	cfg, _, err := config.Parse("rotary check", checkUsage, args, os.Stderr)
	var fe *config.FlagError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // the flag package has printed the usage
	case errors.As(err, &fe):
		return 2 // printed with the usage by the flag package
	case err != nil:
		fmt.Fprintf(os.Stderr, "rotary check: %v\n", err)
		return 2
	}
	if n := serveapp.Check(cfg, os.Stdout); n > 0 {
		fmt.Printf("rotary check: %d problem(s)\n", n)
		return 1
	}
	fmt.Println("rotary check: ok")
	return 0
}
