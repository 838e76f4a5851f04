//go:build !linux

package bench

import (
	"io"
	"net"
	"os"
)

// blockingSendfile falls back to Go's own copy (sendfile where the runtime
// has it) outside Linux.
func blockingSendfile(c net.Conn, f *os.File, size int64) (int64, error) {
	return io.Copy(c, io.LimitReader(f, size))
}
