//go:build !linux

package ftp

import (
	"net"
	"os"
	"time"
)

// sendFileBlocking is Linux only (sendfile_linux.go); elsewhere RETR takes
// io.Copy's sendfile or TransmitFile path.
func sendFileBlocking(c *net.TCPConn, f *os.File, size int64, timeout time.Duration) (int64, error, bool) {
	return 0, nil, false
}
