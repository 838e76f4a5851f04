//go:build !linux

package kernel

import (
	"errors"

	"github.com/rotary-ftp/rotary/internal/nat/forward"
)

var errNotLinux = errors.New("kernel datapath needs Linux (nftables)")

func available() error                            { return errNotLinux }
func program([]forward.Route, bool, *carry) error { return errNotLinux }
func remove() error                               { return nil }
func readCounters() (tableCounters, error)        { return tableCounters{}, errNotLinux }
func flows() ([]kflow, error)                     { return nil, errNotLinux }
