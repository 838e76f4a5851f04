//go:build !linux

package kernel

import (
	"errors"

	"github.com/rotary-ftp/rotary/internal/nat/forward"
)

var errNotLinux = errors.New("kernel datapath needs Linux (nftables)")

func available() error                    { return errNotLinux }
func program([]forward.Route, bool) error { return errNotLinux }
func remove() error                       { return nil }
func hits() (uint64, error)               { return 0, errNotLinux }
func flows() ([]kflow, error)             { return nil, errNotLinux }
