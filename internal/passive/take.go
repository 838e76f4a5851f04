package passive

import "net/netip"

// takeQueuedMax bounds the connections one TakeQueued accepts: the strays
// it refuses on the way, and the one it takes.
const takeQueuedMax = 16

// TakeQueued takes r's data connection straight from the port's listen
// queue, without waiting: a connected, non-blocking socket descriptor
// outside Go's poller, which the caller owns and must close, and the
// client's address. A connection from another address on the way is
// refused and logged, as Accept refuses it. ok is false, with nothing
// taken, when nothing waits in the queue, when the port is shared with
// another client's pending transfer, when the pool has a ClientAddr hook,
// when r is no longer pending or when the system has no such accept (only
// Linux has); Accept then goes on as usual.
//
// It is for a transfer that would otherwise pay for a net.Conn it barely
// uses: Go registers every accepted connection with its poller, asks for
// its local address and turns Nagle's algorithm off, which costs a small
// RETR about a tenth of the server's CPU (BENCHMARKS.md).
func (r *Reservation) TakeQueued() (fd int, remote netip.AddrPort, ok bool) {
	if !takesQueued {
		return -1, netip.AddrPort{}, false
	}
	r.expireIfDue()
	p := r.pool
	var refused []netip.AddrPort // logged after the unlock
	var port int
	var local netip.Addr
	defer func() {
		for _, a := range refused {
			p.logger().Warn("passive: refused data connection: no pending transfer for this client on this port",
				"port", port, "local", local.String(), "remote", a.String(), "client", clientKey(a.Addr()).String())
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	l := r.l
	if p.closed || p.ClientAddr != nil || r.state != statePending || l == nil || l.closed ||
		l.accepting != nil || len(l.pending) != 1 {
		return -1, netip.AddrPort{}, false
	}
	port, local = l.key.port, l.key.local
	for range takeQueuedMax {
		fd, remote, err := acceptQueued(l.ln)
		if err != nil {
			// Nothing queued; or trouble such as EMFILE, which Accept
			// meets, logs and backs off from.
			return -1, netip.AddrPort{}, false
		}
		if clientKey(remote.Addr()) != r.client {
			closeSocket(fd)
			p.refused++
			p.Usage.refuse()
			refused = append(refused, remote)
			continue
		}
		// As dispatch delivers it and Accept takes it.
		p.unpendLocked(r)
		r.state = stateTaken
		p.delivered++
		p.Usage.change(0, +1)
		close(r.done)
		return fd, remote, true
	}
	return -1, netip.AddrPort{}, false
}
