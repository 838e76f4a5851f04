//go:build !(linux && (amd64 || arm64))

package forward

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// Without splice and without TCP_INFO's last-receive time, the copy records
// its own activity: one atomic store per read, no allocation.
type activityReader struct {
	r    *net.TCPConn
	last *atomic.Int64
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func copyConn(dst, src *net.TCPConn, last *atomic.Int64, _ bool) (int64, error) {
	return io.Copy(dst, activityReader{r: src, last: last})
}

func (f *flow) idle() time.Duration {
	return time.Since(time.Unix(0, f.lastActive.Load()))
}
