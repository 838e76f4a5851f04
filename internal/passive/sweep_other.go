//go:build !unix

package passive

import (
	"net"
)

// sweepsQueue says that sweepQueue works here: not on this system, whose
// listeners have no accept that returns at once when the queue is empty
// (a stray connection on a lingering port waits there for the next
// transfer's accept, which refuses it unless it comes from that
// transfer's client address).
const sweepsQueue = false

func sweepQueue(*net.TCPListener) ([]string, error) { return nil, nil }
