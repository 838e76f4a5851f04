//go:build !linux

package passive

import (
	"errors"
	"net"
	"net/netip"
)

// takesQueued says that acceptQueued works here: not on this system
// (TakeQueued reports false and Accept is used).
const takesQueued = false

func acceptQueued(*net.TCPListener) (int, netip.AddrPort, error) {
	return -1, netip.AddrPort{}, errors.ErrUnsupported
}

func closeSocket(int) {}
