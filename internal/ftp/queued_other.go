//go:build !linux

package ftp

import (
	"net"
	"os"

	"github.com/rotary-ftp/rotary/internal/passive"
)

// takeQueued is Linux only (queued_linux.go): elsewhere a RETR accepts
// its data connection as every transfer does.
func takeQueued(*passive.Reservation, int64) net.Conn { return nil }

// sendSmall sends a small file in one non-blocking sendfile on a plain data
// connection (sendFileOnce, Linux only: elsewhere it sends nothing), before
// the 150 reply. plain is false, with nothing sent, when data is not one.
func sendSmall(data net.Conn, f *os.File, size int64) (n int64, err error, plain bool) {
	if c, ok := data.(*net.TCPConn); ok {
		n, err = sendFileOnce(c, f, size)
		return n, err, true
	}
	return 0, nil, false
}

func usualConn(data net.Conn) (net.Conn, error) { return data, nil }
