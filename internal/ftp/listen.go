package ftp

import (
	"context"
	"net"
)

// ListenControl listens on the TCP address addr for control connections.
//
// On Linux the socket options every control connection needs (SO_OOBINLINE
// and TCP keepalive with Go's defaults: idle 15 s, interval 15 s, 9 probes)
// are set once on the listening socket, which accepted sockets inherit, so
// that a login costs five setsockopt(2) calls less (issue 6's login storm).
// Serve notices such a listener and does not set them again. Elsewhere it
// is net.Listen, and the options are set on each connection.
func ListenControl(addr string) (net.Listener, error) {
	return listenControl(context.Background(), addr)
}

// inherits reports whether connections accepted from l already have the
// options ListenControl sets (looking through an implicit-TLS wrapper).
func inherits(l net.Listener) bool {
	if il, ok := l.(*implicitListener); ok {
		l = il.Listener
	}
	tl, ok := l.(*net.TCPListener)
	return ok && listenerSetsOptions(tl)
}
