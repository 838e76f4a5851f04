//go:build !linux

package ftp

import (
	"net"
	"os"
	"time"
)

// sendFileBlocking is Linux only (zerocopy_linux.go); elsewhere RETR takes
// io.Copy's sendfile or TransmitFile path.
func sendFileBlocking(t *transfer, c *net.TCPConn, f *os.File, size int64, timeout time.Duration) (int64, error, bool) {
	return 0, nil, false
}

// receiveFileBlocking is Linux only (zerocopy_linux.go); elsewhere STOR
// takes io.Copy's path.
func receiveFileBlocking(t *transfer, c *net.TCPConn, f *os.File, timeout time.Duration) (int64, error, bool) {
	return 0, nil, false
}

// sendFileOnce is Linux only (zerocopy_linux.go): elsewhere it sends
// nothing, and RETR writes its 150 reply before the file.
func sendFileOnce(c *net.TCPConn, f *os.File, size int64) (int64, error) {
	return 0, nil
}
