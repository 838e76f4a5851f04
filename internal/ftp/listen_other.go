//go:build !linux

package ftp

import (
	"context"
	"net"
)

func listenControl(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

// listenerSetsOptions: only Linux's listeners are set up for inheritance.
func listenerSetsOptions(l *net.TCPListener) bool { return false }
